#!/usr/bin/env bash
# Issue 4, done when: a traced program behaves exactly as untraced. The provider conformance
# suite (Tests/SanConformanceTests) runs over `tcp` twice, plainly and with the interposer layered
# over it (SAN_LAYER=libsantrace.so, as sanreplay record attaches it): the same tests run and
# pass in both, and the traced run wrote traces (its own and its peer processes') that verify.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SANREPLAY_PRODUCTS:?}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run_suite() {  # LOG [ENV…]
    local log="$1"; shift
    env "$@" SAN_CONFORMANCE_PROVIDER=tcp swift test --skip-build --filter Conformance >"$log" 2>&1 \
        || { echo "FAIL: conformance suite ($*)"; grep -E "✘|error" "$log" | head -40; exit 1; }
    sed -nE 's/.*Test run with ([0-9]+) tests? in ([0-9]+) suites? passed.*/\1 \2/p' "$log"
}
plain=$(run_suite "$work/plain.log")
traced=$(run_suite "$work/traced.log" SAN_LAYER="$bin/libsantrace.so" SANTRACE_PROVIDER="$bin/libsan_tcp.so" \
    SANTRACE_DIR="$work/traces")
[ -n "$plain" ] && [ "$plain" = "$traced" ] || { echo "FAIL: tests run plainly: '$plain', traced: '$traced'"; exit 1; }
if grep -q "✘" "$work/traced.log"; then echo "FAIL: traced conformance"; grep "✘" "$work/traced.log"; exit 1; fi
# The same checks were skipped (none for tcp) and the same known issues recorded in both runs.
[ "$(grep -c "skipped" "$work/plain.log" || true)" = "$(grep -c "skipped" "$work/traced.log" || true)" ]

self=$(ls "$work"/traces/sanreplayPackageTests*.santrace)
peers=$(ls "$work"/traces/san-conformance-peer-*.santrace | wc -l)
[ "$peers" -ge 1 ] || { echo "FAIL: no trace from the peer processes"; exit 1; }
for t in "$work"/traces/*.santrace; do
    "$bin/sanreplay" verify "$t" >"$work/v" 2>&1 || { echo "FAIL: verify $t"; cat "$work/v"; exit 1; }
done
"$bin/sanreplay" stats --json "$self" | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = {x["function"]: x for x in d["functions"]}
assert d["events"] > 500 and d["drops"] == 0, d["events"]
for fn in ("WSPRdmaWrite", "WSPRdmaRead", "WSPSend", "WSPRecv", "WSPAccept", "WSPConnect", "WSPRegisterRdmaMemory"):
    assert f.get(fn, {}).get("calls", 0) > 0, fn'
echo "test_35: conformance over tcp passes through the interposer ($traced tests/suites, $peers peer traces)"
