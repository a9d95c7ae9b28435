#!/usr/bin/env bash
# diff on real recordings (sanperf over the tcp provider, recorded by libsantrace.so):
#  - every sample set in traces/ equals itself, and query/export/report read it;
#  - two recordings of the same run are semantically equal (polls, wait-loop rounds, overlapped
#    slots and thread roles differ between them);
#  - a recording and its faithful replay (`sanreplay replay --record`) are semantically equal,
#    also when the recorded server waited in its accept loop for a while;
#  - a replay on a backend that sleeps 300 us in every RDMA write (libsan_faulty.so slow-write)
#    is a significant WSPRdmaWrite regression (exit 3) and nothing semantic;
#  - a replay whose second registration fails (fail-register) is a divergence (exit 1) whose
#    first divergence is that WSPRegisterMemory.
# Performance of two real runs differs by noise: the equality checks pass --threshold 100000.
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
cd "$(dirname "$0")/../.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
diff_expect() {  # diff_expect CODE A B [options…]: exit code, and the JSON report in $tmp/d.json
    local code=$1 a=$2 b=$3; shift 3
    local rc=0
    "$bin/sanreplay" diff "$a" "$b" --json "$@" >"$tmp/d.json" 2>"$tmp/d.err" || rc=$?
    if [ "$rc" != "$code" ]; then
        echo "FAIL: diff $a $b $*: exit $rc, expected $code"
        python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d['semantic'], indent=1)[:3000])" "$tmp/d.json" || cat "$tmp/d.err"
        fail=1
    fi
}
for set in traces/*/; do
    diff_expect 0 "$set" "$set"
    json_check "$tmp/d.json" 'r["semantic"]["equal"] and r["semantic"]["calls_compared"] > 100' 'len(r["endpoints"]) == 2'
    "$bin/sanreplay" query "$set/client.santrace" latency --format json >/dev/null
    "$bin/sanreplay" export "$set" --format chrome -o "$tmp/x.json" 2>/dev/null
    "$bin/sanreplay" report "$set" -o "$tmp/x.html" >/dev/null
done
record_sanperf "$tmp/one" write_bw --iters 300 --size 4096 --tx-depth 16
record_sanperf "$tmp/two" write_bw --iters 300 --size 4096 --tx-depth 16
diff_expect 0 "$tmp/one" "$tmp/two" --threshold 100000
json_check "$tmp/d.json" 'r["semantic"]["equal"]' 'r["semantic"]["completions_compared"] >= 300'
# The faithful replay.
timeout 90 "$bin/sanreplay" replay "$tmp/one" --backend tcp --timeout 20 --record "$tmp/replayed" >/dev/null
diff_expect 0 "$tmp/one" "$tmp/replayed" --threshold 100000
json_check "$tmp/d.json" 'r["semantic"]["equal"]' 'r["semantic"]["calls_compared"] > 500'
# A server that waited a while for its client re-armed its accept event once per round of its
# wait loop; the replay waits its own way. Still semantically equal.
CLIENT_DELAY=1.2 record_sanperf "$tmp/late" write_lat --iters 200 --size 1024
timeout 90 "$bin/sanreplay" replay "$tmp/late" --backend tcp --timeout 20 --record "$tmp/late-replayed" >/dev/null
diff_expect 0 "$tmp/late" "$tmp/late-replayed" --threshold 100000
json_check "$tmp/d.json" 'r["semantic"]["equal"]'
# The injected regression: a backend that sleeps in every RDMA write.
export SAN_FAULTY_WRAP="$bin/libsan_tcp.so"
timeout 90 "$bin/sanreplay" replay "$tmp/one" --backend "$bin/libsan_faulty.so" --timeout 20 --record "$tmp/base" >/dev/null
SAN_FAULTY=slow-write:300 timeout 90 "$bin/sanreplay" replay "$tmp/one" --backend "$bin/libsan_faulty.so" --timeout 20 \
    --record "$tmp/slow" >/dev/null
# (Other functions may be flagged too: real timing is noisy; the slowed one must be, by far.)
diff_expect 3 "$tmp/base" "$tmp/slow" --threshold 100
json_check "$tmp/d.json" 'r["semantic"]["equal"]' \
    '[x for x in r["performance"]["rows"] if x["function"] == "WSPRdmaWrite"][0]["regression"]' \
    '[x for x in r["performance"]["rows"] if x["function"] == "WSPRdmaWrite"][0]["p"] < 1e-6' \
    '[x for x in r["performance"]["rows"] if x["function"] == "WSPRdmaWrite"][0]["p50_change"] > 2'
# The injected semantic change: the second registration of each process fails.
set +e
SAN_FAULTY=fail-register:2 timeout 90 "$bin/sanreplay" replay "$tmp/one" --backend "$bin/libsan_faulty.so" --timeout 20 \
    --record "$tmp/failed" --divergence report >/dev/null 2>&1
set -e
diff_expect 1 "$tmp/base" "$tmp/failed" --threshold 100000
json_check "$tmp/d.json" 'r["semantic"]["first"]["kind"] == "status"' \
    'r["semantic"]["first"]["function"] == "WSPRegisterMemory"' '"WSAENOBUFS" in r["semantic"]["first"]["b"]'
exit $fail
