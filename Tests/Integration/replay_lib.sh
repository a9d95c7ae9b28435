# Helpers for the replay integration tests (sourced, not run: not named test_*).
# record_sanperf DIR TEST [sanperf client options…]: records a two-process sanperf run on the tcp
# provider with libsantrace.so (client and server each write one trace into DIR).
bin="${SANREPLAY_PRODUCTS:?}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

record_sanperf() {
    local dir="$1" test="$2"; shift 2
    mkdir -p "$dir"
    local port; port="$(free_port)"
    SAN_LAYER="$bin/libsantrace.so" SANTRACE_DIR="$dir" timeout 60 "$bin/sanperf" "$test" --server --port "$port" \
        --provider tcp --timeout 20 >"$dir.server.out" 2>&1 &
    local server=$!
    for _ in $(seq 100); do grep -q "server on port" "$dir.server.out" 2>/dev/null && break; sleep 0.05; done
    # CLIENT_DELAY=SECONDS keeps the server in its accept wait loop that long (re-arming rounds).
    [ -n "${CLIENT_DELAY:-}" ] && sleep "$CLIENT_DELAY"
    SAN_LAYER="$bin/libsantrace.so" SANTRACE_DIR="$dir" timeout 60 "$bin/sanperf" "$test" --connect "127.0.0.1:$port" \
        --provider tcp "$@" >"$dir.client.out" 2>&1 || { cat "$dir.client.out" "$dir.server.out"; return 1; }
    wait "$server" || { cat "$dir.server.out"; return 1; }
    [ "$(ls "$dir"/*.santrace | wc -l)" = 2 ] || { echo "expected two traces in $dir"; ls -l "$dir"; return 1; }
}

# json_check FILE PYTHON-EXPRESSION…: asserts each expression over the parsed report `r`.
json_check() {
    local file="$1"; shift
    python3 - "$file" "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for e in sys.argv[2:]:
    if not eval(e):
        print("assertion failed:", e)
        print(json.dumps(r, indent=1)[:6000])
        sys.exit(1)
PY
}
