#!/usr/bin/env bash
# Every sanperf workload over the tcp provider in the modes test_50 does not use: upcall
# completion (WPUCompleteOverlappedRequest; the progress thread reads every connection, so RDMA
# write completions depend on its ACK handling) and poll mode with fWait TRUE (threads waiting in
# WSPGetOverlappedResult read their connection and lease it); then a two-process write_bw in
# upcall mode (one-sided writes acknowledged by a server that calls nothing meanwhile). Each run
# must finish, move data and report sane numbers.
set -euo pipefail
bin="${SANREPLAY_PRODUCTS:?}"
sp="$bin/sanperf"
[ -e "$bin/libsan_tcp.so" ] || { echo "test_11: no libsan_tcp.so"; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check() {
    python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["test"] == sys.argv[2] and d["provider"] == "tcp" and d["data_moved"], d
assert d["iters"] == 200 and d["bytes"] > 0 and d["seconds"] > 0 and d["lat_ns"]["p50"] > 0, d
PY
}

for mode in "--completion upcall" "--completion poll --wait block"; do
    for t in write_bw read_bw write_lat read_lat send_bw send_lat reg_churn; do
        # shellcheck disable=SC2086
        timeout 60 "$sp" "$t" --loopback --provider tcp --iters 200 --size 4096 --tx-depth 16 $mode --json \
            --timeout 20 >"$tmp/out.json" || { echo "test_11: sanperf $t $mode failed"; exit 1; }
        check "$tmp/out.json" "$t"
    done
done

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
timeout 60 "$sp" write_bw --server --port "$port" --provider tcp --completion upcall --timeout 20 --json \
    >"$tmp/server.json" 2>"$tmp/server.err" &
server=$!
for _ in $(seq 50); do grep -q "server on port" "$tmp/server.err" 2>/dev/null && break; sleep 0.1; done
timeout 60 "$sp" write_bw --connect "127.0.0.1:$port" --provider tcp --completion upcall --iters 200 \
    --size 65536 --json >"$tmp/client.json"
wait "$server"
python3 - "$tmp/client.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["side"] == "client" and d["iters"] == 200 and d["bytes"] == 200 * 65536 and d["bw_mib_s"] > 0, d
PY
echo "test_11_tcp_completion_modes: ok"
