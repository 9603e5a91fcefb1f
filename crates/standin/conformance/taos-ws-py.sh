#!/usr/bin/env bash
# Runs taos-connector-python's own taos-ws-py/tests, unmodified, against the stand-in.
# Usage: crates/standin/conformance/taos-ws-py.sh /path/to/taos-connector-python-checkout
# Needs: taos-ws-py 0.7.0, pytest and toml installed (pip install taos-ws-py==0.7.0 pytest toml), the
# stand-in built (cargo build -p taos-standin), and port 6041 free: the suite connects to
# localhost:6041 with root/taosdata, so the stand-in listens exactly there.
# Left out, with the reason (see crates/standin/README.md): cloud (test_cloud*.py: needs a
# cloud token), schemaless (test_schemaless.py), stmt/stmt2 (test_stmt*.py), SQLAlchemy
# (test_sqlalchemy.py: a separate dialect package).
# Time zone: test_timezone.py's *_default tests expect +0800 from a server and client that
# were given no zone, i.e. they were written for machines set to Asia/Shanghai (taosd and the
# client take the host's zone, tsTimezone). The script runs both in that zone unless TZ is set.
set -euo pipefail
export TZ="${TZ:-Asia/Shanghai}"
checkout="${1:?usage: $0 /path/to/taos-connector-python}"
tests="$checkout/taos-ws-py/tests"
[ -d "$tests" ] || { echo "no taos-ws-py/tests under $checkout" >&2; exit 2; }
# shellcheck source=standin-6041.sh
. "$(dirname "$0")/standin-6041.sh"
cd "$tests"
TDENGINE_URL=localhost:6041 python3 -m pytest -p no:cacheprovider -q --continue-on-collection-errors \
  --ignore=test_cloud.py --ignore=test_cloud_tmq.py --ignore=test_schemaless.py \
  --ignore=test_stmt.py --ignore=test_stmt2.py --ignore=test_stmt_geo.py \
  --ignore=test_sqlalchemy.py "${@:2}"
