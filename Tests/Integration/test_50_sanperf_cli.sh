#!/usr/bin/env bash
# sanperf end to end: every test on loopback (null and tcp), JSON keys, the two-process mode over
# the tcp provider, and bad input (unknown test, --size 0, a provider that cannot load) giving a
# clear message and a non-zero exit.
set -euo pipefail
bin="${SANREPLAY_PRODUCTS:?}"
sp="$bin/sanperf"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

providers=(null)
[ -e "$bin/libsan_tcp.so" ] && providers+=(tcp)
for p in "${providers[@]}"; do
    for t in write_bw read_bw write_lat read_lat send_bw send_lat reg_churn; do
        "$sp" "$t" --loopback --provider "$p" --iters 200 --size 4096 --tx-depth 16 --json --timeout 20 >"$tmp/out.json"
        python3 - "$tmp/out.json" "$t" "$p" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("test", "provider", "size", "iters", "bytes", "seconds", "bw_mib_s", "msg_rate", "lat_ns", "side"):
    assert k in d, f"missing {k}: {d}"
for k in ("min", "p50", "avg", "p99", "p999"):
    assert isinstance(d["lat_ns"][k], (int, float)), f"lat_ns.{k}: {d['lat_ns']}"
assert d["test"] == sys.argv[2] and d["provider"] == sys.argv[3] and d["side"] == "client", d
assert d["iters"] == 200 and d["size"] == 4096 and d["seconds"] > 0, d
assert d["data_moved"] == (sys.argv[3] != "null"), d
PY
    done
done
"$sp" send_lat --loopback --provider null --iters 100 --raw-tcp | grep -c "ratio provider/raw TCP: latency" >/dev/null

# Two processes over the tcp provider: the server adopts the client's parameters.
if [ -e "$bin/libsan_tcp.so" ]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "$sp" write_lat --server --port "$port" --provider tcp --timeout 20 --json >"$tmp/server.json" 2>"$tmp/server.err" &
    server=$!
    for _ in $(seq 50); do grep -q "server on port" "$tmp/server.err" 2>/dev/null && break; sleep 0.1; done
    "$sp" write_lat --connect "127.0.0.1:$port" --provider tcp --iters 300 --size 64 --raw-tcp --json >"$tmp/client.json"
    wait "$server"
    python3 - "$tmp/client.json" "$tmp/server.json" <<'PY'
import json, sys
c, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert c["side"] == "client" and s["side"] == "server", (c, s)
assert s["iters"] == 300 and s["size"] == 64, s
assert c["raw_tcp"]["lat_ns"]["p50"] > 0 and c["ratio"]["lat_p50"] > 0, c
PY
fi

# Bad input: a clear message on stderr and a non-zero exit, never a crash or a hang.
expect_fail() {
    local want="$1" code="$2"; shift 2
    set +e
    timeout 30 "$sp" "$@" >"$tmp/o" 2>"$tmp/e"
    local rc=$?
    set -e
    [ "$rc" = "$code" ] || { echo "sanperf $*: exit $rc, expected $code"; cat "$tmp/e"; exit 1; }
    grep -q -- "$want" "$tmp/e" || { echo "sanperf $*: no '$want' in:"; cat "$tmp/e"; exit 1; }
}
expect_fail "invalid for '<TEST>'" 64 no_such_test --loopback
expect_fail "--size must be at least 1" 64 write_bw --size 0 --loopback --provider null
expect_fail "exactly one of --loopback" 64 write_bw
expect_fail "no SAN provider named 'no-such'" 69 write_bw --loopback --provider no-such
expect_fail "SO_MAX_MSG_SIZE" 64 send_bw --loopback --provider null --size 2000000
expect_fail "can only run with --loopback" 1 send_lat --connect 127.0.0.1:9 --provider null --timeout 5
if [ -e "$bin/libsan_broken.so" ]; then
    SAN_BROKEN_MISSING=startup expect_fail "WSASYSNOTREADY" 69 write_bw --loopback --provider "$bin/libsan_broken.so"
fi
echo "test_50_sanperf_cli: ok"
