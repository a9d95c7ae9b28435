#!/usr/bin/env bash
# Pacing: --pace recorded reproduces the recorded gaps (the report gives the achieved error),
# x2 stretches them, asap ignores them. Lower bounds on time (a busy machine only slows a replay
# down); the one upper bound, asap faster than recorded, has the server's 0.3 s wait as margin.
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# A run whose server waits: the client connects ~0.3 s after the server started listening.
port="$(free_port)"
"$bin/sanreplay" record -o "$tmp/run" -- "$bin/sanperf" send_lat --server --port "$port" --provider tcp --timeout 20 \
    >/dev/null 2>&1 &
server=$!
sleep 0.3
"$bin/sanreplay" record -o "$tmp/run" -- "$bin/sanperf" send_lat --connect "127.0.0.1:$port" --provider tcp --iters 300 \
    >/dev/null 2>&1
wait "$server"
span="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["span_s"])' <("$bin/sanreplay" stats "$tmp/run" --json))"
for pace in asap recorded x2; do
    timeout 120 "$bin/sanreplay" replay "$tmp/run" --backend tcp --pace "$pace" --timeout 20 --json >"$tmp/$pace.json"
    json_check "$tmp/$pace.json" 'r["ok"]' "r[\"pace\"] == \"$pace\""
done
json_check "$tmp/asap.json" '"pacing" not in r'
json_check "$tmp/recorded.json" 'r["pacing"]["gaps"] > 600' 'r["pacing"]["error_p50_ns"] < 1000000' \
    "r[\"seconds\"] >= 0.6 * $span" "r[\"seconds\"] > json.load(open('$tmp/asap.json'))['seconds']"
json_check "$tmp/x2.json" "r[\"seconds\"] >= 1.3 * $span" 'r["pacing"]["mode"].startswith("x2")'
echo "pacing OK (recorded span $span s)"
