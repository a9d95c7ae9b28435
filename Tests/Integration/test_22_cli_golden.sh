#!/usr/bin/env bash
# dump (text and JSON Lines), stats and verify of a small deterministic synthetic trace match the
# golden files in Tests/Corpus/golden byte for byte. To accept a deliberate change:
#   UPDATE_GOLDEN=1 SANREPLAY_PRODUCTS=.build/debug bash Tests/Integration/test_22_cli_golden.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
sanreplay="${SANREPLAY_PRODUCTS:?}/sanreplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
golden=Tests/Corpus/golden
"$sanreplay" synthesize --workload mixed --events 400 --seed 3 "$work/g.santrace" >/dev/null
"$sanreplay" dump "$work/g.santrace" >"$work/dump.txt"
"$sanreplay" dump --json --fn WSPRdmaWrite "$work/g.santrace" >"$work/dump-rdmawrite.jsonl"
"$sanreplay" dump --socket 2 --from 100us --to 110us "$work/g.santrace" >"$work/dump-filtered.txt"
"$sanreplay" stats "$work/g.santrace" | sed "s|$work/||" >"$work/stats.txt"
"$sanreplay" stats --json "$work/g.santrace" | sed "s|$work/||g" >"$work/stats.json"
"$sanreplay" verify "$work/g.santrace" >"$work/verify.txt"
fail=0
for f in dump.txt dump-rdmawrite.jsonl dump-filtered.txt stats.txt stats.json verify.txt; do
    if [ "${UPDATE_GOLDEN:-0}" = 1 ]; then
        cp "$work/$f" "$golden/$f"
    elif ! diff -u "$golden/$f" "$work/$f"; then
        echo "FAIL: $f differs from $golden/$f"; fail=1
    fi
done
# The JSON Lines parse, and the plain sqlite3 CLI reads the trace and its event index.
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$work/dump-rdmawrite.jsonl"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$work/stats.json"
"$sanreplay" index "$work/g.santrace" >/dev/null
n=$(sqlite3 "$work/g.santrace" "select count(*) from events")
m=$(sqlite3 "$work/g.santrace" "select value from meta where key = 'events'")
[ "$n" = "$m" ] && [ "$n" -gt 0 ] || { echo "FAIL: events table has $n rows, meta says $m"; fail=1; }
sqlite3 "$work/g.santrace" "select function, count(*) from events_named group by 1" | grep -c '^WSPRdmaWrite|' >/dev/null || { echo "FAIL: events_named"; fail=1; }
exit $fail
