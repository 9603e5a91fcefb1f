# Sourced by the conformance scripts: starts the built stand-in on 127.0.0.1:6041 (where the
# official connectors' suites look for taosAdapter), stops it when the script exits, and
# returns once it accepts connections.
# shellcheck shell=bash
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
bin="${STANDIN_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/taos-standin}"
[ -x "$bin" ] || { echo "stand-in binary $bin missing: run cargo build -p taos-standin" >&2; exit 2; }
"$bin" --listen 127.0.0.1:6041 &
standin_pid=$!
trap 'kill "$standin_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/6041) 2>/dev/null && break
  sleep 0.1
done
