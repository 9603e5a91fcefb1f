#!/bin/sh
# Table names are single-quoted on purpose: nothing in them may expand.
# shellcheck disable=SC2016
# Incremental dump with taosdump, written by tdibt for database db (golden test).
# 4 range(s) of 1 table(s), 0 deleted range(s), 0 dropped table(s), 0 schema change(s); cut taken at 2023-11-14T22:13:20.000Z.
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
    "tables": 1,
    "ranges": 4,
    "new_blocks": 5,
    "dirty_blocks": 3,
    "deleted_blocks": 0,
    "deleted_ranges": 0,
    "dropped_tables": 0,
    "schema_changes": 0
  },
  "tables": [
    {
      "name": "t",
      "super_table": "st",
      "new_blocks": 5,
      "dirty_blocks": 3,
      "deleted_blocks": 0,
      "ranges": [
        {
          "start": 1699999200000,
          "end": 1700013600000,
          "start_iso": "2023-11-14T22:00:00.000Z",
          "end_iso": "2023-11-15T02:00:00.000Z",
          "first_window": 472222,
          "last_window": 472225
        },
        {
          "start": 1700035200000,
          "end": 1700038800000,
          "start_iso": "2023-11-15T08:00:00.000Z",
          "end_iso": "2023-11-15T09:00:00.000Z",
          "first_window": 472232,
          "last_window": 472232
        },
        {
          "start": 1700071200000,
          "end": 1700078400000,
          "start_iso": "2023-11-15T18:00:00.000Z",
          "end_iso": "2023-11-15T20:00:00.000Z",
          "first_window": 472242,
          "last_window": 472243
        },
        {
          "start": 1700143200000,
          "end": 1700146800000,
          "start_iso": "2023-11-16T14:00:00.000Z",
          "end_iso": "2023-11-16T15:00:00.000Z",
          "first_window": 472262,
          "last_window": 472262
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
        "end": 1700013600000,
        "start_iso": "2023-11-14T22:00:00.000Z",
        "end_iso": "2023-11-15T02:00:00.000Z",
        "first_window": 472222,
        "last_window": 472225
      },
      "tables": [
        "t"
      ]
    },
    {
      "folder": "dump-0002",
      "range": {
        "start": 1700035200000,
        "end": 1700038800000,
        "start_iso": "2023-11-15T08:00:00.000Z",
        "end_iso": "2023-11-15T09:00:00.000Z",
        "first_window": 472232,
        "last_window": 472232
      },
      "tables": [
        "t"
      ]
    },
    {
      "folder": "dump-0003",
      "range": {
        "start": 1700071200000,
        "end": 1700078400000,
        "start_iso": "2023-11-15T18:00:00.000Z",
        "end_iso": "2023-11-15T20:00:00.000Z",
        "first_window": 472242,
        "last_window": 472243
      },
      "tables": [
        "t"
      ]
    },
    {
      "folder": "dump-0004",
      "range": {
        "start": 1700143200000,
        "end": 1700146800000,
        "start_iso": "2023-11-16T14:00:00.000Z",
        "end_iso": "2023-11-16T15:00:00.000Z",
        "first_window": 472262,
        "last_window": 472262
      },
      "tables": [
        "t"
      ]
    }
  ]
}
TDIBT_END_OF_FILE

# 1/4: 1 table(s), [2023-11-14T22:00:00.000Z, 2023-11-15T02:00:00.000Z)
mkdir "$OUT/dump-0001"
run_taosdump -h 'td-host' -P '6041' -u 'root' -Z 'WebSocket' -S 1699999200000 -E 1700013599999 -o "$OUT/dump-0001" \
    'db' \
    't' \
    || fail "taosdump call 1 of 4 (folder $OUT/dump-0001) failed; the dump is incomplete: remove $OUT and run this script again"

# 2/4: 1 table(s), [2023-11-15T08:00:00.000Z, 2023-11-15T09:00:00.000Z)
mkdir "$OUT/dump-0002"
run_taosdump -h 'td-host' -P '6041' -u 'root' -Z 'WebSocket' -S 1700035200000 -E 1700038799999 -o "$OUT/dump-0002" \
    'db' \
    't' \
    || fail "taosdump call 2 of 4 (folder $OUT/dump-0002) failed; the dump is incomplete: remove $OUT and run this script again"

# 3/4: 1 table(s), [2023-11-15T18:00:00.000Z, 2023-11-15T20:00:00.000Z)
mkdir "$OUT/dump-0003"
run_taosdump -h 'td-host' -P '6041' -u 'root' -Z 'WebSocket' -S 1700071200000 -E 1700078399999 -o "$OUT/dump-0003" \
    'db' \
    't' \
    || fail "taosdump call 3 of 4 (folder $OUT/dump-0003) failed; the dump is incomplete: remove $OUT and run this script again"

# 4/4: 1 table(s), [2023-11-16T14:00:00.000Z, 2023-11-16T15:00:00.000Z)
mkdir "$OUT/dump-0004"
run_taosdump -h 'td-host' -P '6041' -u 'root' -Z 'WebSocket' -S 1700143200000 -E 1700146799999 -o "$OUT/dump-0004" \
    'db' \
    't' \
    || fail "taosdump call 4 of 4 (folder $OUT/dump-0004) failed; the dump is incomplete: remove $OUT and run this script again"

echo "4 taosdump call(s) done; verifying what they wrote"
"$TDIBT" verify-taosdump "$OUT" --blocks "$OUT/incremental_blocks.json" --report "$OUT/verification_report.json" \
    || fail "verify-taosdump found problems: see $OUT/verification_report.json"
echo "dump verified: $OUT"
