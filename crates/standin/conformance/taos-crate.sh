#!/usr/bin/env bash
# Runs the official Rust connector's own tests and WebSocket examples (taos 0.12.3, from
# taosdata/taos-connector-rust at tag taos-v0.12.3) against the stand-in.
# Usage: crates/standin/conformance/taos-crate.sh /path/to/taos-connector-rust-at-taos-v0.12.3
# Needs: the stand-in built (cargo build -p taos-standin), port 6041 free, taos-ws-py
# (pip install taos-ws-py==0.7.0) to create the database one example expects.
# Pointed at the stand-in only: TEST_DSN=ws://localhost:6041 (the tests that read it default
# to taosd's native port 6030), and the examples' own DSNs already name localhost:6041.
# One environment change: tokio is held at 1.53.0 (`cargo update --precise`), since
# taos-ws 0.12.3 panics on connect with tokio >= 1.54 (docs/DESIGN.md); the connector's
# manifest allows it.
# Left out, with the reason (crates/standin/README.md): tests and examples whose DSN is
# taos:// (the native client, libtaos, port 6030), schemaless (test_put_*), stmt.
set -euo pipefail
checkout="${1:?usage: $0 /path/to/taos-connector-rust (tag taos-v0.12.3)}"
[ -f "$checkout/taos/Cargo.toml" ] || { echo "no taos/Cargo.toml under $checkout" >&2; exit 2; }
# shellcheck source=standin-6041.sh
. "$(dirname "$0")/standin-6041.sh"
# examples/create-database.rs connects to database `test`, which must exist (as on a server).
python3 -c "import taosws; taosws.connect('taosws://root:taosdata@localhost:6041').execute('CREATE DATABASE IF NOT EXISTS test')"
cd "$checkout"
cargo update -p tokio --precise 1.53.0
status=0
TEST_DSN=ws://localhost:6041 cargo test -p taos --no-fail-fast -- --test-threads 2 || status=$?
for example in create-database information; do
  echo "== example $example"
  cargo run -q -p taos --example "$example" >/dev/null || { echo "example $example FAILED"; status=1; }
done
exit "$status"
