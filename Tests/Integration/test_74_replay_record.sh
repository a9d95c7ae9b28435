#!/usr/bin/env bash
# --record: the replay traces itself with libsantrace.so, one process (and one trace) per
# replayed endpoint, so the replayed trace set has the original's shape; the traces verify and
# show the replayed calls.
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
record_sanperf "$tmp/run" send_lat --iters 50 --size 64
timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend tcp --timeout 20 --record "$tmp/replayed" --json >"$tmp/r.json"
json_check "$tmp/r.json" 'r["ok"] and r["split"]' 'len(r["endpoint_reports"]) == 2' \
    'all(e["exit_code"] == 0 and e["report"]["ok"] for e in r["endpoint_reports"])'
[ "$(ls "$tmp/replayed"/*.santrace | wc -l)" = 2 ] || { ls -l "$tmp/replayed"; exit 1; }
for f in "$tmp/replayed"/*.santrace; do "$bin/sanreplay" verify "$f" >/dev/null; done
"$bin/sanreplay" stats "$tmp/replayed" --json >"$tmp/s.json"
json_check "$tmp/s.json" '[f["calls"] for f in r["functions"] if f["function"] == "WSPSend"][0] >= 100'
# A one-sided trace records into one trace too.
timeout 90 "$bin/sanreplay" replay "$(ls "$tmp/run"/*.santrace | head -1)" --backend tcp --timeout 20 \
    --record "$tmp/runs/1" >/dev/null
[ "$(ls "$tmp/runs/1"/*.santrace | wc -l)" = 1 ]  # the missing parent folder was created too
# A trace set left in WAL mode (a writer's close that lost the race with a reader: one trace in
# twenty before the writer waited) is read by both endpoint processes at once, each time from a
# first open (no -wal or -shm yet). The first to open it rebuilds the WAL index and SQLite tells
# the other SQLITE_BUSY_RECOVERY without calling the busy handler: one replay in ~70 failed with
# "database is locked" until readers repeated those calls.
mkdir -p "$tmp/wal"
cp "$tmp/run"/*.santrace "$tmp/wal/"
for f in "$tmp/wal"/*.santrace; do [ "$(sqlite3 "$f" 'PRAGMA journal_mode = WAL')" = wal ]; done
for i in 1 2 3 4 5 6; do
    rm -f "$tmp/wal"/*-wal "$tmp/wal"/*-shm
    timeout 90 "$bin/sanreplay" replay "$tmp/wal" --backend tcp --timeout 20 --record "$tmp/walrep/$i" >"$tmp/w.out" 2>&1 || {
        echo "replay $i of a WAL-mode trace set failed"; cat "$tmp/w.out"; exit 1; }
done
echo "recorded replay OK"
