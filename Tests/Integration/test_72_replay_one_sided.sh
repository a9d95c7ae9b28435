#!/usr/bin/env bash
# One-sided traces: only the client, or only the server, was recorded. The replay synthesizes
# the missing peer (accepts or connects, receives and checks what the recorded side sent, sends
# what it received, exposes the RDMA regions it used) and checks the data both ways.
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for t in write_lat read_bw send_lat; do
    record_sanperf "$tmp/$t" "$t" --iters 40 --size 2048 --tx-depth 4
    for f in "$tmp/$t"/*.santrace; do
        timeout 90 "$bin/sanreplay" replay "$f" --backend tcp --timeout 20 --json >"$tmp/out.json" || {
            echo "one-sided replay of $f failed"; cat "$tmp/out.json"; exit 1; }
        json_check "$tmp/out.json" 'r["ok"]' 'len(r["endpoints"]) == 1 and len(r["synthetic"]) == 1' \
            'r["data"]["checks"] > 0 and r["data"]["failures"] == 0'
    done
    echo "$t: both one-sided replays OK"
done
