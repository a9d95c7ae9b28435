#!/usr/bin/env bash
# sanreplay diff from the command line: a run and another timing of it are equal (exit 0), slower
# RDMA writes are a significant regression (exit 3), a failing write is a semantic divergence
# (exit 1) shown with its context, both together exit 4, trace sets pair their endpoints, damaged
# traces exit 2 and bad options 64. --json parses; piped output carries no colors. Folders of runs
# are compared run against run (benchstat's way).
set -euo pipefail
cd "$(dirname "$0")/../.."
sanreplay="${SANREPLAY_PRODUCTS:?}/sanreplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
syn() { "$sanreplay" synthesize --workload mixed --iterations 3000 "$@" >/dev/null; }
syn --timing-seed 1 "$work/a.santrace"
syn --timing-seed 2 "$work/b.santrace"
syn --timing-seed 2 --slow WSPRdmaWrite=1.5 "$work/slow.santrace"
syn --timing-seed 2 --fail-rdma-write 500 "$work/fail.santrace"
syn --timing-seed 3 --slow WSPRdmaWrite=1.5 --fail-rdma-write 500 "$work/both.santrace"
expect() {  # expect CODE PATTERN ARGS...: exit code and a line of stdout
    local code=$1 pattern=$2; shift 2
    local rc=0
    "$sanreplay" diff "$@" >"$work/out" 2>"$work/err" || rc=$?
    if [ "$rc" != "$code" ]; then echo "FAIL: diff $*: exit $rc, expected $code"; cat "$work/out" "$work/err"; fail=1; return; fi
    grep -qE -- "$pattern" "$work/out" "$work/err" || { echo "FAIL: diff $*: no '$pattern'"; cat "$work/out" "$work/err"; fail=1; }
}
expect 0 '^verdict: equal' "$work/a.santrace" "$work/b.santrace"
expect 0 '^semantic: equal' "$work/a.santrace" "$work/a.santrace"
expect 3 'WSPRdmaWrite +64K .*REGRESSION' "$work/a.santrace" "$work/slow.santrace"
expect 0 '^verdict: equal' "$work/a.santrace" "$work/slow.santrace" --threshold 500
expect 1 '^first divergence: status in sanreplay/connector thread 1, WSPRdmaWrite' "$work/a.santrace" "$work/fail.santrace"
expect 1 'WSAECONNRESET' "$work/a.santrace" "$work/fail.santrace"
expect 4 '^verdict: divergence and regression' "$work/a.santrace" "$work/both.santrace"
# The context names the failing call in B.
"$sanreplay" diff "$work/a.santrace" "$work/fail.santrace" >"$work/out" || true
grep -qE '^    → +[0-9]+ .* > WSPRdmaWrite' "$work/out" || { echo "FAIL: no marked context line"; cat "$work/out"; fail=1; }
if grep -q $'\e\[' "$work/out"; then echo "FAIL: colors in piped output"; fail=1; fi
# JSON.
rc=0; "$sanreplay" diff --json "$work/a.santrace" "$work/slow.santrace" >"$work/d.json" || rc=$?
[ "$rc" = 3 ] || { echo "FAIL: --json exit $rc"; fail=1; }
python3 - "$work/d.json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "regression", d["verdict"]
assert d["semantic"]["equal"] is True
rows = [r for r in d["performance"]["rows"] if r["regression"]]
assert [(r["function"], r["size"]) for r in rows] == [("WSPRdmaWrite", "64K")], rows
r = rows[0]
assert r["p"] < 0.05 and r["p50_change"] > 0.05 and r["b"]["p50_ns"] > r["a"]["p50_ns"]
for k in ("n", "p50_ns", "p90_ns", "p99_ns", "p99_9_ns", "bytes_per_s"):
    assert k in r["a"], k
assert d["performance"]["geomean"]["a_ns"] > 0
PY
# Trace sets: endpoints paired; one more process in B is a divergence.
mkdir -p "$work/A" "$work/B"
cp "$work/a.santrace" "$work/A/"; cp "$work/b.santrace" "$work/B/"
expect 0 '^endpoints: 1 paired' "$work/A" "$work/B"
syn --timing-seed 4 "$work/B/extra.santrace"
expect 1 'extra_endpoint' "$work/A" "$work/B"
# Bad input and usage.
expect 2 '^sanreplay: ' "$work/a.santrace" Tests/Corpus/damaged/truncated.santrace
expect 2 '^sanreplay: ' "$work/a.santrace" "$work/missing.santrace"
expect 2 '^sanreplay: ' Tests/Corpus/damaged/text.santrace "$work/a.santrace"
expect 64 'alpha' --alpha 2 "$work/a.santrace" "$work/b.santrace"
expect 64 'Missing expected argument' "$work/a.santrace"
# Folders of runs: every other run 30 % slower on both sides (machine noise). One pair of runs
# is a regression; five runs against five are equal; RDMA writes 1.5 times slower in every run
# of B are a regression across runs; three runs per side cannot reach p < 0.05, and say so.
for i in 1 2 3 4 5; do
    noise=$([ $((i % 2)) = 0 ] && echo 1.3 || echo 1.0); other=$([ $((i % 2)) = 1 ] && echo 1.3 || echo 1.0)
    mkdir -p "$work/RA/$i" "$work/RB/$i" "$work/RS/$i"
    "$sanreplay" synthesize --workload write_bw --iterations 1500 --timing-seed "$i" --slow "WSPRdmaWrite=$noise" "$work/RA/$i/c.santrace" >/dev/null
    "$sanreplay" synthesize --workload write_bw --iterations 1500 --timing-seed $((i + 10)) --slow "WSPRdmaWrite=$other" "$work/RB/$i/c.santrace" >/dev/null
    "$sanreplay" synthesize --workload write_bw --iterations 1500 --timing-seed $((i + 20)) \
        --slow "WSPRdmaWrite=$(python3 -c "print($noise * 1.5)")" "$work/RS/$i/c.santrace" >/dev/null
done
expect 3 'WSPRdmaWrite +64K .*REGRESSION' "$work/RA/1" "$work/RB/1"
expect 0 '^runs: 5 of A, 5 of B; semantic: first run against first run' "$work/RA" "$work/RB"
expect 0 '^verdict: equal' "$work/RA" "$work/RB"
expect 3 'WSPRdmaWrite +64K .* 0\.008 .*REGRESSION' "$work/RA" "$work/RS"
mkdir -p "$work/R3A" "$work/R3S"
for i in 1 2 3; do cp -r "$work/RA/$i" "$work/R3A/"; cp -r "$work/RS/$i" "$work/R3S/"; done
expect 0 'with 3 and 3 runs the smallest possible p is 0\.100' "$work/R3A" "$work/R3S"
rc=0; "$sanreplay" diff --json "$work/RA" "$work/RS" >"$work/r.json" || rc=$?
[ "$rc" = 3 ] || { echo "FAIL: runs --json exit $rc"; fail=1; }
python3 - "$work/r.json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["runs_a"]) == 5 and d["runs_a"][0].endswith("RA/1"), d["runs_a"]
p = d["performance"]
assert p["runs_a"] == 5 and p["runs_b"] == 5 and abs(p["smallest_p"] - 2 / 252) < 1e-9, p
w = [r for r in p["rows"] if r["function"] == "WSPRdmaWrite"][0]
assert w["regression"] and len(w["run_medians_a_ns"]) == 5, w
assert w["a"]["p50_ns"] == sorted(w["run_medians_a_ns"])[2], w
PY
mkdir -p "$work/norun/notes"
expect 2 'no subfolders of them' "$work/norun" "$work/RA"
exit $fail
