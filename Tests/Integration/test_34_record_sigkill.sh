#!/usr/bin/env bash
# Issue 4, done when: a traced sanperf killed with SIGKILL mid-run leaves a trace that
# `sanreplay verify` and `stats` read: verify names the intact segments and where the trace ends
# (within a flush interval of the kill) and that it was not closed; record reports the signal
# as the command's status (128 + 9).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SANREPLAY_PRODUCTS:?}"
sr="$bin/sanreplay"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

SANTRACE_FLUSH_MS=50 "$sr" record -o run -- "$bin/sanperf" write_bw --loopback --provider tcp --iters 100000000 \
    --size 4096 --tx-depth 16 --timeout 60 >out 2>err &
record=$!
pid=""
for _ in $(seq 100); do
    pid=$(sed -nE 's/.* started as pid ([0-9]+) .*/\1/p' err 2>/dev/null | head -1)
    [ -n "$pid" ] && break
    sleep 0.05
done
[ -n "$pid" ] || { echo "FAIL: record did not report the pid"; cat err; exit 1; }
# Wait until the first RDMA writes are committed, then run on for a second and kill.
for _ in $(seq 100); do ls run/*.santrace >/dev/null 2>&1 && break; sleep 0.05; done
sleep 1.5
kill -KILL "$pid"
set +e
wait "$record"; rc=$?
set -e
[ "$rc" = 137 ] || { echo "FAIL: record exited $rc, expected 137 (SIGKILL)"; cat err; exit 1; }
grep -q "not closed cleanly" err || { echo "FAIL: the summary does not say the trace was cut"; cat err; exit 1; }

trace=$(ls run/*.santrace)
set +e
"$sr" verify "$trace" >verify 2>&1; vrc=$?
set -e
[ "$vrc" = 0 ] || { echo "FAIL: verify exit $vrc (committed segments must be intact)"; cat verify; exit 1; }
grep -q "the trace was not closed cleanly" verify || { echo "FAIL: verify does not say the trace was cut"; cat verify; exit 1; }
line=$(head -1 verify)
[[ "$line" =~ ^segments\ 0(–[0-9]+)?\ intact\ \(([0-9\ ]+)\ events,.*up\ to\ t=([0-9.]+)\ s\)$ ]] \
    || { echo "FAIL: verify's first line: $line"; exit 1; }
events="${BASH_REMATCH[2]// /}"
t_end="${BASH_REMATCH[3]}"
# The trace reaches the kill: at least a second of RDMA writes was committed.
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 1.0 else 1)" "$t_end" \
    || { echo "FAIL: trace ends at t=$t_end s, the kill came ~1.5 s in"; cat verify; exit 1; }
# stats reads what was committed: the same number of events.
"$sr" stats --json "$trace" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["events"] == int(sys.argv[1]), (d["events"], sys.argv[1])
f = {x["function"]: x for x in d["functions"]}
assert f["WSPRdmaWrite"]["calls"] > 100, f["WSPRdmaWrite"]' "$events"
"$sr" dump "$trace" --fn WSPRdmaWrite >dump
grep -q "> WSPRdmaWrite" dump
echo "test_34: SIGKILL after ~1.5 s: $line"
