#!/usr/bin/env bash
# Every sanperf test recorded in two processes on tcp, then replayed: on tcp with no divergence
# and every data check passing; on null with statuses and byte counts compared and the data
# checks skipped (null moves no data, and the report says so).
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for t in write_bw read_bw write_lat read_lat send_bw send_lat reg_churn; do
    record_sanperf "$tmp/$t" "$t" --iters 60 --size 4096 --tx-depth 8
    timeout 120 "$bin/sanreplay" replay "$tmp/$t" --backend tcp --timeout 20 --json >"$tmp/$t.tcp.json" || {
        echo "replay of $t on tcp failed"; cat "$tmp/$t.tcp.json"; exit 1; }
    json_check "$tmp/$t.tcp.json" 'r["ok"] and r["divergences"] == 0' 'len(r["endpoints"]) == 2' \
        'r["data"]["checks"] > 0 and r["data"]["failures"] == 0 and r["data"]["skipped"] == 0' \
        'r["calls"] > 100 and r["completions_compared"] > 0' 'r["synthetic"] == []'
    timeout 120 "$bin/sanreplay" replay "$tmp/$t" --backend null --timeout 20 --json >"$tmp/$t.null.json" || {
        echo "replay of $t on null failed"; cat "$tmp/$t.null.json"; exit 1; }
    json_check "$tmp/$t.null.json" 'r["ok"]' 'r["data"]["checks"] == 0 and r["data"]["skipped"] > 0' \
        '"moves no data" in r["data"]["transport"]' 'r["calls_compared"] + r["completions_compared"] > 100'
    echo "$t: tcp and null replays OK"
done
# Upcall completions (hEvent low bit clear) replay as upcalls; a one-process (--loopback) run pairs
# its two ends inside one trace.
for t in write_lat send_bw; do
    record_sanperf "$tmp/up-$t" "$t" --iters 60 --size 4096 --tx-depth 8 --completion upcall
    timeout 120 "$bin/sanreplay" replay "$tmp/up-$t" --backend tcp --timeout 20 --json >"$tmp/up-$t.json" || {
        echo "replay of upcall-mode $t on tcp failed"; cat "$tmp/up-$t.json"; exit 1; }
    json_check "$tmp/up-$t.json" 'r["ok"]' 'r["data"]["checks"] > 0 and r["data"]["failures"] == 0'
done
"$bin/sanreplay" record -o "$tmp/loop" -- "$bin/sanperf" read_lat --loopback --provider tcp --iters 60 --size 4096 \
    >"$tmp/loop.out" 2>&1 || { echo "record of a loopback read_lat failed"; cat "$tmp/loop.out"; exit 1; }
timeout 120 "$bin/sanreplay" replay "$tmp/loop" --backend tcp --timeout 20 --json >"$tmp/loop.json" || {
    echo "replay of the loopback read_lat failed"; cat "$tmp/loop.json"; exit 1; }
json_check "$tmp/loop.json" 'r["ok"] and len(r["endpoints"]) == 1 and r["synthetic"] == []' \
    'r["data"]["checks"] > 60 and r["data"]["failures"] == 0'
echo "upcall and loopback replays OK"
# Rates the workloads depend on: RDMA writes and reads were replayed one for one.
json_check "$tmp/write_bw.tcp.json" '[f["calls"] for f in r["functions"] if f["function"] == "WSPRdmaWrite"] == [60]'
json_check "$tmp/read_lat.tcp.json" '[f["calls"] for f in r["functions"] if f["function"] == "WSPRdmaRead"][0] >= 60'
# Text output: the summary names the result.
"$bin/sanreplay" replay "$tmp/send_lat" --backend tcp >"$tmp/send_lat.txt" 2>&1 || true
grep -q "OK: no divergence" "$tmp/send_lat.txt" || { echo "text replay of send_lat:"; cat "$tmp/send_lat.txt"; exit 1; }
