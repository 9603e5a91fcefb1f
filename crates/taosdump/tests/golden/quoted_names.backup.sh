#!/bin/sh
# Table names are single-quoted on purpose: nothing in them may expand.
# shellcheck disable=SC2016
# Incremental dump with taosdump, written by tdibt for database db (golden test).
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
OUT=${1:-'taosdump-incremental'}

# A new or empty folder, as taosdump asks of its -o.
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ]; then
    fail "$OUT is not empty: give a new folder as the first argument"
fi
mkdir -p "$OUT"

cat > "$OUT/incremental_blocks.json" <<'TDIBT_END_OF_FILE'
{
  "format": "tdibt-incremental-blocks",
  "version": 1,
  "generated_at": "2023-11-14T22:13:20.000Z",
  "database": "db",
  "precision": "ms",
  "block_span": 3600000,
  "since": {
    "backup": null,
    "description": "golden test"
  },
  "cut": {
    "topic": "tdibt_db",
    "vgroups": {},
    "checkpoint_written_at_unix_ms": 1700000000000,
    "checkpoint_written_at": "2023-11-14T22:13:20.000Z"
  },
  "counts": {
    "tables": 6,
    "ranges": 6,
    "new_blocks": 6,
    "dirty_blocks": 0,
    "deleted_blocks": 0,
    "deleted_ranges": 0,
    "dropped_tables": 0,
    "schema_changes": 0
  },
  "tables": [
    {
      "name": "a\"b$c`d",
      "super_table": "st",
      "new_blocks": 1,
      "dirty_blocks": 0,
      "deleted_blocks": 0,
      "ranges": [
        {
          "start": 1699999200000,
          "end": 1700002800000,
          "start_iso": "2023-11-14T22:00:00.000Z",
          "end_iso": "2023-11-14T23:00:00.000Z",
          "first_window": 472222,
          "last_window": 472222
        }
      ],
      "deleted": []
    },
    {
      "name": "it's",
      "super_table": "st",
      "new_blocks": 1,
      "dirty_blocks": 0,
      "deleted_blocks": 0,
      "ranges": [
        {
          "start": 1699999200000,
          "end": 1700002800000,
          "start_iso": "2023-11-14T22:00:00.000Z",
          "end_iso": "2023-11-14T23:00:00.000Z",
          "first_window": 472222,
          "last_window": 472222
        }
      ],
      "deleted": []
    },
    {
      "name": "my table",
      "super_table": "st",
      "new_blocks": 1,
      "dirty_blocks": 0,
      "deleted_blocks": 0,
      "ranges": [
        {
          "start": 1699999200000,
          "end": 1700002800000,
          "start_iso": "2023-11-14T22:00:00.000Z",
          "end_iso": "2023-11-14T23:00:00.000Z",
          "first_window": 472222,
          "last_window": 472222
        }
      ],
      "deleted": []
    },
    {
      "name": "select",
      "super_table": "st",
      "new_blocks": 1,
      "dirty_blocks": 0,
      "deleted_blocks": 0,
      "ranges": [
        {
          "start": 1699999200000,
          "end": 1700002800000,
          "start_iso": "2023-11-14T22:00:00.000Z",
          "end_iso": "2023-11-14T23:00:00.000Z",
          "first_window": 472222,
          "last_window": 472222
        }
      ],
      "deleted": []
    },
    {
      "name": "tab\there",
      "super_table": "st",
      "new_blocks": 1,
      "dirty_blocks": 0,
      "deleted_blocks": 0,
      "ranges": [
        {
          "start": 1699999200000,
          "end": 1700002800000,
          "start_iso": "2023-11-14T22:00:00.000Z",
          "end_iso": "2023-11-14T23:00:00.000Z",
          "first_window": 472222,
          "last_window": 472222
        }
      ],
      "deleted": []
    },
    {
      "name": "温度计",
      "super_table": "st",
      "new_blocks": 1,
      "dirty_blocks": 0,
      "deleted_blocks": 0,
      "ranges": [
        {
          "start": 1699999200000,
          "end": 1700002800000,
          "start_iso": "2023-11-14T22:00:00.000Z",
          "end_iso": "2023-11-14T23:00:00.000Z",
          "first_window": 472222,
          "last_window": 472222
        }
      ],
      "deleted": []
    }
  ],
  "dropped_tables": [],
  "schema_changes": []
}
TDIBT_END_OF_FILE
cat > "$OUT/taosdump_calls.json" <<'TDIBT_END_OF_FILE'
{
  "format": "tdibt-taosdump-calls",
  "version": 1,
  "database": "db",
  "calls": [
    {
      "folder": "dump-0001",
      "range": {
        "start": 1699999200000,
        "end": 1700002800000,
        "start_iso": "2023-11-14T22:00:00.000Z",
        "end_iso": "2023-11-14T23:00:00.000Z",
        "first_window": 472222,
        "last_window": 472222
      },
      "tables": [
        "a\"b$c`d",
        "it's",
        "my table",
        "select",
        "tab\there",
        "温度计"
      ]
    }
  ]
}
TDIBT_END_OF_FILE

# 1/1: 6 table(s), [2023-11-14T22:00:00.000Z, 2023-11-14T23:00:00.000Z)
mkdir "$OUT/dump-0001"
run_taosdump -h 'td-host' -P '6041' -u 'root' -Z 'WebSocket' -S 1699999200000 -E 1700002799999 -o "$OUT/dump-0001" \
    'db' \
    'a"b$c`d' 'it'\''s' 'my table' 'select' 'tab	here' '温度计' \
    || fail "taosdump call 1 of 1 (folder $OUT/dump-0001) failed; the dump is incomplete: remove $OUT and run this script again"

echo "1 taosdump call(s) done; verifying what they wrote"
"$TDIBT" verify-taosdump "$OUT" --blocks "$OUT/incremental_blocks.json" --report "$OUT/verification_report.json" \
    || fail "verify-taosdump found problems: see $OUT/verification_report.json"
echo "dump verified: $OUT"
