#!/usr/bin/env bash
# Issue 4, done when: `sanreplay record -o run -- sanperf write_bw --loopback --provider tcp …`
# produces a trace set that `sanreplay stats`, `dump`, `verify` and plain `sqlite3` read; record
# exits with the command's status and says where the traces went.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SANREPLAY_PRODUCTS:?}"
sr="$bin/sanreplay"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

"$sr" record -o run -- "$bin/sanperf" write_bw --loopback --provider tcp --iters 500 --size 65536 --tx-depth 32 \
    >out 2>err || { echo "FAIL: record exited $?"; cat out err; exit 1; }
grep -q "SAN.*65536.*500" out || { echo "FAIL: sanperf did not report"; cat out; exit 1; }
grep -q "traces into $work/run" err || { echo "FAIL: record did not say where the traces go"; cat err; exit 1; }
grep -q "1 process recorded into $work/run: sanperf (pid [0-9]*, [0-9 ]* events)" err \
    || { echo "FAIL: no summary"; cat err; exit 1; }
grep -q "WSPRdmaWrite 500" err || { echo "FAIL: summary lacks the 500 RDMA writes"; cat err; exit 1; }
grep -q "0 stalls, 0 drops" err || { echo "FAIL: summary lacks stalls/drops"; cat err; exit 1; }
trace=$(ls run/*.santrace)
[ "$(echo "$trace" | wc -l)" = 1 ] || { echo "FAIL: expected one trace: $trace"; exit 1; }

"$sr" verify "$trace" >verify || { echo "FAIL: verify"; cat verify; exit 1; }
grep -q "^OK$" verify || { echo "FAIL: verify did not say OK"; cat verify; exit 1; }
"$sr" stats run/ >stats
grep -Eq "^WSPRdmaWrite +500 +0 +32768000 " stats || { echo "FAIL: stats"; cat stats; exit 1; }
"$sr" stats --json run/ | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = {x["function"]: x for x in d["functions"]}
assert f["WSPRdmaWrite"]["calls"] == 500 and f["WSPRdmaWrite"]["completions"] == 500, f["WSPRdmaWrite"]
assert d["stalls"] == 0 and d["drops"] == 0, d'
"$sr" dump "$trace" --fn WSPRdmaWrite >dump
[ "$(grep -c "> WSPRdmaWrite" dump)" = 500 ] || { echo "FAIL: dump has $(grep -c "> WSPRdmaWrite" dump) RDMA writes"; exit 1; }
"$sr" dump --json "$trace" | python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    json.loads(line); n += 1
assert n > 1000, n'

# Plain sqlite3: the segment and summary tables at once, every event after `sanreplay index`.
[ "$(sqlite3 "$trace" "select value from meta where key='magic'")" = santrace ]
sqlite3 "$trace" "select count(*) from segments" | grep -Eq '^[1-9]'
[ "$(sqlite3 "$trace" "select events from function_summary where function=37 and kind=1")" = 500 ]
[ "$(sqlite3 "$trace" "select count(*) from connections")" -ge 2 ]
[ "$(sqlite3 "$trace" "select count(*) from registrations where kind='rdma'")" -ge 1 ]
"$sr" index "$trace" >/dev/null
[ "$(sqlite3 "$trace" "select count(*) from events_named where function='WSPRdmaWrite' and kind='completion'")" = 500 ]

# The command's exit status is record's; a command that does not exist is a clear error.
set +e
"$sr" record -o run2 -- sh -c 'exit 7' 2>err7; rc=$?
"$sr" record -o run3 -- /no/such/program 2>err69; rc69=$?
"$sr" record -o run4 2>err64; rc64=$?
set -e
[ "$rc" = 7 ] || { echo "FAIL: exit $rc, expected the command's 7"; cat err7; exit 1; }
grep -q "no trace was written" err7 || { echo "FAIL: no 'no trace' note"; cat err7; exit 1; }
[ "$rc69" = 69 ] && grep -q "cannot start /no/such/program" err69 || { echo "FAIL: missing command: $rc69"; cat err69; exit 1; }
[ "$rc64" = 64 ] && grep -q "no command to record" err64 || { echo "FAIL: no command: $rc64"; cat err64; exit 1; }
# SIGINT and SIGTERM sent to record reach the command (which reports them its own way).
for sig in TERM INT; do
    "$sr" record -o run5 -- sh -c 'trap "exit 42" '$sig'; sleep 30 & wait' 2>errsig &
    rec=$!
    for _ in $(seq 100); do grep -q "started as pid" errsig 2>/dev/null && break; sleep 0.05; done
    sleep 0.2
    kill -$sig $rec
    set +e; wait $rec; rc=$?; set -e
    [ "$rc" = 42 ] || { echo "FAIL: SIG$sig not forwarded (record exited $rc)"; cat errsig; exit 1; }
done
echo "test_32: record loopback write_bw over tcp: $(head -1 verify)"
