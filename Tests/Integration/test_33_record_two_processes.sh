#!/usr/bin/env bash
# Issue 4, done when: a client and a server in two processes (sanperf --server / --connect), each
# under `sanreplay record` into the same folder, give a trace set of two traces that stats, dump,
# verify and sqlite3 read, whose connections match (the client's peer is the server's local
# address and the other way round), and whose RDMA descriptors match by bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SANREPLAY_PRODUCTS:?}"
sr="$bin/sanreplay"
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; true' EXIT
cd "$work"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$sr" record -o run -- "$bin/sanperf" write_lat --server --port "$port" --provider tcp --timeout 30 >server.out 2>server.err &
server=$!
for _ in $(seq 100); do grep -q "server on port" server.err 2>/dev/null && break; sleep 0.1; done
"$sr" record -o run -- "$bin/sanperf" write_lat --connect "127.0.0.1:$port" --provider tcp --iters 200 --size 64 \
    >client.out 2>client.err || { echo "FAIL: client"; cat client.out client.err; exit 1; }
wait "$server" || { echo "FAIL: server"; cat server.out server.err; exit 1; }
server=""
for side in server client; do
    grep -q "1 process recorded into $work/run" $side.err || { echo "FAIL: $side summary"; cat $side.err; exit 1; }
done
traces=(run/*.santrace)
[ "${#traces[@]}" = 2 ] || { echo "FAIL: expected 2 traces, got ${traces[*]}"; exit 1; }
for t in "${traces[@]}"; do
    # Finished traces are single rollback-journal files, even when the other side's `record`
    # summary was reading this one as its writer closed it (the close waits for readers).
    mode="$(sqlite3 "$t" 'PRAGMA journal_mode')"
    [ "$mode" = delete ] && [ ! -e "$t-wal" ] || { echo "FAIL: $t left in journal mode $mode"; ls -l run; exit 1; }
    "$sr" verify "$t" >v || { echo "FAIL: verify $t"; cat v; exit 1; }
    "$sr" dump "$t" --fn WSPRdmaWrite >d
    grep -q "> WSPRdmaWrite" d || { echo "FAIL: no RDMA write in $t"; exit 1; }
done
"$sr" stats run/ >stats
grep -q "trace set run/ (2 traces)" stats || { echo "FAIL: stats of the set"; cat stats; exit 1; }
# Both sides write in the ping-pong: at least 200 RDMA writes each, none failed.
"$sr" stats --json run/ | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d["traces"]) == 2, d.keys()
for t in d["traces"]:
    f = {x["function"]: x for x in t["functions"]}
    assert f["WSPRdmaWrite"]["calls"] >= 200 and f["WSPRdmaWrite"]["errors"] == 0, f["WSPRdmaWrite"]
    assert f["WSPRdmaWrite"]["completions"] == f["WSPRdmaWrite"]["calls"], f["WSPRdmaWrite"]'
grep -q "^WSPRdmaWrite " stats || { echo "FAIL: stats"; cat stats; exit 1; }

# Peers match by address: the client's socket connected to the port the server listened on, and
# the server accepted from the client (the connections view holds both ends).
python3 - "${traces[@]}" <<'PY'
import sqlite3, sys
def rows(path, sql):
    return list(sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(sql))
def port(text):
    return text.rsplit(":", 1)[1]
ends = {}
for path in sys.argv[1:3]:
    listened = [port(r[0]) for r in rows(path, "select local from sockets where local is not null")]
    connected = [port(r[1]) for r in rows(path, "select created_by, peer from connections where created_by = 'WSPSocket'")]
    accepted = rows(path, "select socket from connections where created_by = 'WSPAccept'")
    ends[path] = (listened, connected, accepted)
(sl, _, sa), (_, cc, _) = sorted(ends.values(), key=lambda e: len(e[1]))
assert sa and cc and cc[0] in sl, ends
def descriptors(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return {bytes(r[0]): r[1] for r in db.execute("select bytes, registered_seq is not null from descriptors")}
da, db_ = descriptors(sys.argv[1]), descriptors(sys.argv[2])
# A descriptor one side registered is the one the other side received and used.
shared = set(da) & set(db_)
assert shared, (da, db_)
assert all(da[k] != db_[k] for k in shared), "a shared descriptor must be local on one side, remote on the other"
PY
echo "test_33: client and server traces recorded, verified, peers and descriptors matched"
