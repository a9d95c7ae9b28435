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
    --record "$tmp/one" >/dev/null
[ "$(ls "$tmp/one"/*.santrace | wc -l)" = 1 ]
echo "recorded replay OK"
