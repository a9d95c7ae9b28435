#!/usr/bin/env bash
# sanreplay export: Chrome trace-event JSON (slices per thread, flows from calls to completions,
# a process per trace of a set), JSON Lines and CSV with one record per event.
set -euo pipefail
cd "$(dirname "$0")/../.."
sanreplay="${SANREPLAY_PRODUCTS:?}/sanreplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
mkdir "$work/set"
"$sanreplay" synthesize --workload mixed --iterations 300 "$work/set/one.santrace" >/dev/null
"$sanreplay" synthesize --workload pingpong --iterations 300 "$work/set/two.santrace" >/dev/null
t="$work/set/one.santrace"
n=$(sqlite3 "$t" "select value from meta where key = 'events'")
"$sanreplay" export "$t" --format chrome -o "$work/t.json" 2>/dev/null
python3 - "$work/t.json" "$n" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"]
calls = [e for e in ev if e["ph"] == "X" and e.get("cat") == "call"]
comps = [e for e in ev if e.get("cat") == "completion"]
s = {e["id"] for e in ev if e["ph"] == "s"}
f = [e["id"] for e in ev if e["ph"] == "f"]
assert calls and comps and len(f) == len(comps) and all(i in s for i in f), (len(calls), len(comps), len(f))
assert {e["tid"] for e in calls} == {1, 2, 3}
names = [e for e in ev if e["ph"] == "M" and e["name"] == "thread_name"]
assert len(names) >= 3
for e in ev:
    assert "pid" in e and "ph" in e
PY
"$sanreplay" export "$work/set" --format chrome -o "$work/set.json" 2>/dev/null
python3 -c "
import json,sys; ev=json.load(open(sys.argv[1]))['traceEvents']
assert len([e for e in ev if e['ph']=='M' and e['name']=='process_name']) == 2" "$work/set.json" || { echo "FAIL: set export"; fail=1; }
"$sanreplay" export "$t" --format jsonl -o "$work/t.jsonl" 2>/dev/null
[ "$(wc -l <"$work/t.jsonl")" = "$n" ] || { echo "FAIL: jsonl lines"; fail=1; }
python3 -c "
import json,sys
keys=None
for l in open(sys.argv[1]):
    o=json.loads(l); k=list(o)
    assert keys is None or k==keys; keys=k
assert keys==['pid','seq','t_ns','kind','function','thread','thread_seq','socket','ov','ret','status','error','bytes','start_seq','latency_ns'], keys" "$work/t.jsonl" || { echo "FAIL: jsonl keys"; fail=1; }
"$sanreplay" export "$t" --format csv -o - 2>/dev/null >"$work/t.csv"
[ "$(wc -l <"$work/t.csv")" = "$((n + 1))" ] || { echo "FAIL: csv rows"; fail=1; }
python3 -c "
import csv,sys; rows=list(csv.reader(open(sys.argv[1])))
assert all(len(r)==15 for r in rows) and rows[0][0]=='pid'" "$work/t.csv" || { echo "FAIL: csv"; fail=1; }
rc=0; "$sanreplay" export "$t" --format chrome -o /nonexistent/dir/x.json 2>"$work/err" || rc=$?
[ "$rc" = 64 ] && grep -q 'cannot write' "$work/err" || { echo "FAIL: unwritable output: exit $rc"; fail=1; }
rc=0; "$sanreplay" export Tests/Corpus/damaged/bitflip.santrace --format csv -o "$work/x.csv" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || { echo "FAIL: damaged export exit $rc"; fail=1; }
exit $fail
