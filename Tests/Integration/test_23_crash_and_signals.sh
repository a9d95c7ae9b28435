#!/usr/bin/env bash
# A process recording a trace (TraceRecorder, signal flush installed) is stopped by SIGTERM and by
# SIGKILL. Either way every committed segment is intact; SIGTERM flushes first, so its trace
# reaches the signal; SIGKILL loses at most the last flush interval (100 ms).
set -euo pipefail
cd "$(dirname "$0")/../.."
sanreplay="${SANREPLAY_PRODUCTS:?}/sanreplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for sig in TERM KILL; do
    t="$work/$sig.santrace"
    "$sanreplay" synthesize --workload mixed --live-seconds 30 --events 1000000000 "$t" >"$work/out" 2>&1 &
    pid=$!
    sleep 1.5
    kill -$sig $pid
    wait $pid 2>/dev/null || true
    rc=0; "$sanreplay" verify "$t" >"$work/verify" 2>&1 || rc=$?
    if [ "$rc" != 0 ] || ! grep -q 'not closed cleanly' "$work/verify"; then
        echo "FAIL: SIG$sig: verify exit $rc"; cat "$work/verify"; fail=1; continue
    fi
    # "segments 0–N intact (E events, …, up to t=X s)": the recording reached the signal.
    t_end=$(sed -nE 's/.*up to t=([0-9.]+) s.*/\1/p' "$work/verify" | head -1)
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 1.0 else 1)" "$t_end" \
        || { echo "FAIL: SIG$sig: trace ends at t=$t_end s, signal came at ~1.5 s"; cat "$work/verify"; fail=1; }
    echo "SIG$sig: $(head -1 "$work/verify")"
done
exit $fail
