#!/usr/bin/env bash
# sanreplay query: read-only SQL (writes refused, the file unchanged), the views, the three
# formats, the event index built in memory or with --index, and the canned reports.
set -euo pipefail
cd "$(dirname "$0")/../.."
sanreplay="${SANREPLAY_PRODUCTS:?}/sanreplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
t="$work/t.santrace"
"$sanreplay" synthesize --workload mixed --iterations 1000 --timing-seed 5 --fail-rdma-write 7 "$t" >/dev/null
sum=$(sha256sum "$t" | cut -d' ' -f1)
q() { "$sanreplay" query "$t" "$@"; }
# Writes are refused with exit 64 and a clear message; nothing changes.
for sql in "delete from meta" "drop table segments" "insert into argv values (9, 'x')" "create table x (a)" \
           "update sockets set peer = null" "pragma user_version = 3" "select 1; delete from meta"; do
    rc=0; q "$sql" >/dev/null 2>"$work/err" || rc=$?
    [ "$rc" = 64 ] && grep -qE '^sanreplay: (refusing to run a statement that writes|one SQL statement)' "$work/err" \
        || { echo "FAIL: '$sql': exit $rc"; cat "$work/err"; fail=1; }
done
rc=0; q "selec 1" >/dev/null 2>"$work/err" || rc=$?
[ "$rc" = 64 ] && grep -q 'SQL error' "$work/err" || { echo "FAIL: syntax error exit $rc"; fail=1; }
[ "$(sha256sum "$t" | cut -d' ' -f1)" = "$sum" ] || { echo "FAIL: the trace changed"; fail=1; }
# Views, with the event index built in memory for the query (the file still unchanged).
leaves=$(q "select count(*) from events where kind = 2" --format csv | tail -1)
calls=$(q "select count(*) from calls" --format csv | tail -1)
[ "$leaves" = "$calls" ] && [ "$calls" -gt 1000 ] || { echo "FAIL: calls $calls, leaves $leaves"; fail=1; }
[ "$(sha256sum "$t" | cut -d' ' -f1)" = "$sum" ] || { echo "FAIL: the trace changed"; fail=1; }
failed=$(q "select count(*) from calls where failed" --format csv | tail -1)
[ "$failed" = 1 ] || { echo "FAIL: failed calls $failed"; fail=1; }
q "select * from function_latency" --json >"$work/fl.json"
python3 -c "
import json,sys; rows=json.load(open(sys.argv[1])); w=[r for r in rows if r['function']=='WSPRdmaWrite'][0]
assert w['calls'] == 1000 and w['errors'] == 1 and w['completions'] == 1000 - 1 - 15, w" "$work/fl.json" || fail=1
q "select function, events from function_totals where kind = 'enter'" --format csv >"$work/ft.csv"
head -1 "$work/ft.csv" | grep -cx 'function,events' >/dev/null || { echo "FAIL: csv header"; cat "$work/ft.csv"; fail=1; }
q "select kind, count(*) from registration_lifetimes group by kind" | grep -cE '^memory +[0-9]+' >/dev/null || { echo "FAIL: registration_lifetimes"; fail=1; }
# Filters belong to canned reports.
rc=0; q "select 1" --fn WSPSend >/dev/null 2>&1 || rc=$?
[ "$rc" = 64 ] || { echo "FAIL: filters with SQL: exit $rc"; fail=1; }
# Canned reports, every format.
for r in top latency inflight errors leaks; do
    for fmt in table csv json; do
        rc=0; q "$r" --format "$fmt" >"$work/$r.$fmt" 2>"$work/err" || rc=$?
        [ "$rc" = 0 ] && [ -s "$work/$r.$fmt" ] || { echo "FAIL: $r --format $fmt: exit $rc"; cat "$work/err"; fail=1; }
    done
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['rows'], d" "$work/$r.json" || { echo "FAIL: $r json"; fail=1; }
done
grep -qE '^WSPRdmaWrite +call +WSAECONNRESET +1 ' "$work/errors.table" || { echo "FAIL: errors report"; cat "$work/errors.table"; fail=1; }
q latency --fn WSPSend --format csv | tail -n +2 | cut -d, -f1 | sort -u | grep -cx WSPSend >/dev/null || { echo "FAIL: latency --fn"; fail=1; }
# --index writes the persistent index; plain sqlite3 then sees it.
q "select count(*) from calls" --index >/dev/null 2>&1
[ "$(sqlite3 "$t" 'select count(*) from events where kind = 2')" = "$leaves" ] || { echo "FAIL: --index"; fail=1; }
# Damaged traces: exit 2.
for d in truncated text empty; do
    rc=0; "$sanreplay" query "Tests/Corpus/damaged/$d.santrace" "select 1" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || { echo "FAIL: query on $d: exit $rc"; fail=1; }
    rc=0; "$sanreplay" query "Tests/Corpus/damaged/$d.santrace" latency >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || { echo "FAIL: latency on $d: exit $rc"; fail=1; }
done
exit $fail
