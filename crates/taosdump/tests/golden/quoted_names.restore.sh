#!/bin/sh
# Table names are single-quoted on purpose: nothing in them may expand.
# shellcheck disable=SC2016
# Restore of an incremental taosdump dump, written by tdibt for database db (golden test).
# 6 range(s) of 6 table(s), 0 deleted range(s), 0 dropped table(s), 0 schema change(s); cut taken at 2023-11-14T22:13:20.000Z.
# Password: set TDIBT_TAOSDUMP_PASSWORD in the environment (never on a command line).
set -eu

TAOSDUMP=${TAOSDUMP:-taosdump}

fail() {
    printf '%s: %s\n' "$0" "$*" >&2
    exit 1
}

# The password reaches taosdump on its standard input (`-p` alone makes it read one), from
# printf, a shell builtin: it is never on a command line that ps can show.
run_taosdump() {
    if [ -n "${TDIBT_TAOSDUMP_PASSWORD+x}" ]; then
        case $TDIBT_TAOSDUMP_PASSWORD in
            *[[:space:]]*) fail "TDIBT_TAOSDUMP_PASSWORD holds white space, which taosdump cannot read from its input" ;;
        esac
        printf '%s\n' "$TDIBT_TAOSDUMP_PASSWORD" | "$TAOSDUMP" -p "$@"
    else
        "$TAOSDUMP" "$@"
    fi
}
TDIBT=${TDIBT:-'tdibt'}
IN=${1:-'taosdump-incremental'}

[ -f "$IN/incremental_blocks.json" ] || fail "$IN/incremental_blocks.json is missing: give the folder backup_script.sh wrote"

# Drops, deleted ranges, and every range about to be imported emptied first.
"$TDIBT" taosdump-apply "$IN" --blocks "$IN/incremental_blocks.json" \
    || fail "tdibt taosdump-apply failed; nothing was imported"

# 1/1
run_taosdump -h 'td-host' -P '6041' -u 'root' -Z 'WebSocket' -i "$IN/dump-0001" \
    || fail "taosdump -i $IN/dump-0001 (1 of 1) failed; run this script again (it is idempotent)"

echo "1 folder(s) imported from $IN"
