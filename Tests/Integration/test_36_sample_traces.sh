#!/usr/bin/env bash
# Every sample trace set in traces/ is readable by this build: verify says OK, stats reads the
# set (two traces, the workload's calls present), dump and dump --json read every event, plain
# sqlite3 reads the tables; the files stay small.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SANREPLAY_PRODUCTS:?}"
sr="$bin/sanreplay"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
declare -A key=([write_bw]=WSPRdmaWrite [read_lat]=WSPRdmaRead [send_lat]=WSPSend [reg_churn]=WSPRegisterMemory)
sets=0
for dir in traces/*/; do
    name=$(basename "$dir")
    [ -n "${key[$name]:-}" ] || { echo "FAIL: traces/$name is not a known sample set (update this test and traces/README.md)"; exit 1; }
    for side in client server; do
        t="$dir$side.santrace"
        [ -f "$t" ] || { echo "FAIL: $t missing"; exit 1; }
        [ "$(stat -c %s "$t")" -lt 524288 ] || { echo "FAIL: $t is larger than 512 KiB"; exit 1; }
        "$sr" verify "$t" >"$work/v" || { echo "FAIL: verify $t"; cat "$work/v"; exit 1; }
        grep -q "^OK$" "$work/v"
        # A copy, so the events index is built without touching the sample.
        cp "$t" "$work/t.santrace"
        "$sr" dump "$work/t.santrace" >"$work/d"
        n=$(sqlite3 "$work/t.santrace" "select value from meta where key = 'events'")
        [ "$(wc -l <"$work/d")" = "$n" ] || { echo "FAIL: dump of $t has $(wc -l <"$work/d") lines, meta says $n events"; exit 1; }
        "$sr" dump --json "$work/t.santrace" | python3 -c '
import json, sys
n = sum(1 for line in sys.stdin if json.loads(line))
assert n == int(sys.argv[1]), (n, sys.argv[1])' "$n"
        "$sr" index "$work/t.santrace" >/dev/null
        [ "$(sqlite3 "$work/t.santrace" "select count(*) from events")" = "$n" ]
    done
    "$sr" stats --json "$dir" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d["traces"]) == 2, d.keys()
f = {x["function"]: x for x in d["functions"]}
assert f[sys.argv[1]]["calls"] >= 100, (sys.argv[1], f.get(sys.argv[1]))
assert d["drops"] == 0' "${key[$name]}"
    sets=$((sets + 1))
done
[ "$sets" -ge 4 ] || { echo "FAIL: only $sets sample sets"; exit 1; }
echo "test_36: $sets sample trace sets verified and read (stats, dump, dump --json, sqlite3)"
