#!/usr/bin/env bash
# A deliberately broken backend (Tests/CHarness/providers/libsan_faulty.c wraps tcp) is caught:
# one corrupted RDMA write is a data divergence reported at the receiver, naming the writer's
# call; one failed registration is a result divergence at that call. Exit 1, precise report.
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
record_sanperf "$tmp/run" write_lat --iters 50 --size 4096
faulty="$bin/libsan_faulty.so"
export SAN_FAULTY_WRAP="$bin/libsan_tcp.so"
# The faulty layer passing everything through replays cleanly.
timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend "$faulty" --timeout 20 >/dev/null

set +e
SAN_FAULTY=corrupt-write:30 timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend "$faulty" --timeout 20 --json >"$tmp/w.json" 2>"$tmp/w.err"
rc=$?
set -e
[ "$rc" = 1 ] || { echo "corrupt write: exit $rc, expected 1"; cat "$tmp/w.json" "$tmp/w.err"; exit 1; }
grep -q "corrupting WSPRdmaWrite #30" "$tmp/w.err"
json_check "$tmp/w.json" 'not r["ok"]' 'r["first_divergence"]["kind"] == "data"' \
    'r["data"]["failures"] == 1' 'r["first_divergence"]["function"] == "WSPRecv data"' \
    'any("WSPRdmaWrite" in c for c in r["first_divergence"]["context"])' \
    'r["first_divergence"]["recorded"].startswith("RDMA-written region byte 0")'

# Report mode keeps going and counts; the text names the call.
set +e
SAN_FAULTY=fail-register:3 timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend "$faulty" --timeout 20 \
    --divergence report >"$tmp/r.txt" 2>/dev/null
rc=$?
set -e
[ "$rc" = 1 ] || { echo "failed registration: exit $rc, expected 1"; cat "$tmp/r.txt"; exit 1; }
grep -q "result divergence in sanperf-[0-9]*, thread [0-9]*, thread seq [0-9]* (event [0-9]*): WSPRegisterMemory" "$tmp/r.txt"
grep -q "live:     ret -1, error WSAENOBUFS (10055)" "$tmp/r.txt"
grep -q "^DIVERGED:" "$tmp/r.txt"
# A call that never returns from the provider: the watchdog reports it (timeout + 5 s without
# progress) and the replay ends with exit 1 instead of hanging.
set +e
start=$(date +%s)
SAN_FAULTY=hang-send:5 timeout 60 "$bin/sanreplay" replay "$tmp/run" --backend "$faulty" --timeout 1 --json >"$tmp/h.json" 2>/dev/null
rc=$?
set -e
[ "$rc" = 1 ] || { echo "hung send: exit $rc, expected 1"; cat "$tmp/h.json"; exit 1; }
[ $(( $(date +%s) - start )) -lt 30 ] || { echo "the watchdog took too long"; exit 1; }
json_check "$tmp/h.json" 'any(d["kind"] == "stuck" and d["function"] == "WSPSend" and "stuck inside the provider" in d["live"] for d in r["divergence_list"])'
echo "faulty backend caught"
