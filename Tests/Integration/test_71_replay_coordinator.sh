#!/usr/bin/env bash
# A replay split over two endpoint processes that meet at a coordinator on loopback (one of them
# serves it), then a third variant with a coordinator-only process; and a strict divergence in
# one endpoint stops the other (through the coordinator's ABORT).
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
tmp="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
record_sanperf "$tmp/run" write_lat --iters 80 --size 1024
names=($(cd "$tmp/run" && ls *.santrace | sed 's/\.santrace$//'))

# 1. The first endpoint serves the coordinator and replays; the second connects to it.
port="$(free_port)"
timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend tcp --endpoint "${names[0]}" \
    --serve-coordinator "127.0.0.1:$port" --timeout 20 --json >"$tmp/a.json" 2>"$tmp/a.err" &
a=$!; pids+=("$a")
timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend tcp --endpoint "${names[1]}" \
    --coordinator "127.0.0.1:$port" --timeout 20 --json >"$tmp/b.json"
wait "$a"
json_check "$tmp/a.json" 'r["ok"]' "r[\"endpoints\"] == [\"${names[0]}\"]" 'r["data"]["checks"] > 0 and r["data"]["failures"] == 0'
json_check "$tmp/b.json" 'r["ok"]' "r[\"endpoints\"] == [\"${names[1]}\"]" 'r["data"]["checks"] > 0 and r["data"]["failures"] == 0'
grep -q "coordinator on 127.0.0.1:$port" "$tmp/a.err"

# 2. A coordinator-only process; both endpoints connect to it; it reports both outcomes.
port="$(free_port)"
timeout 90 "$bin/sanreplay" replay "$tmp/run" --serve-coordinator "127.0.0.1:$port" --timeout 20 >"$tmp/c.out" 2>&1 &
c=$!; pids+=("$c")
timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend tcp --endpoint "${names[0]}" --coordinator "127.0.0.1:$port" --timeout 20 >"$tmp/a2.out" &
a=$!; pids+=("$a")
timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend tcp --endpoint 1 --coordinator "127.0.0.1:$port" --timeout 20 >"$tmp/b2.out"
wait "$a"
wait "$c"
grep -q "endpoint ${names[0]} finished: no divergence" "$tmp/c.out"
grep -q "endpoint ${names[1]} finished: no divergence" "$tmp/c.out"

# 3. A divergence in one endpoint (a backend that fails a registration) stops both.
port="$(free_port)"
set +e
SAN_FAULTY=fail-register:2 timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend "$bin/libsan_faulty.so" \
    --endpoint "${names[1]}" --serve-coordinator "127.0.0.1:$port" --timeout 20 --json >"$tmp/fa.json" 2>/dev/null &
a=$!; pids+=("$a")
timeout 90 "$bin/sanreplay" replay "$tmp/run" --backend tcp --endpoint "${names[0]}" \
    --coordinator "127.0.0.1:$port" --timeout 20 --json >"$tmp/fb.json"
rb=$?
wait "$a"; ra=$?
set -e
[ "$ra" = 1 ] && [ "$rb" = 1 ] || { echo "exits $ra $rb, expected 1 1"; cat "$tmp/fa.json" "$tmp/fb.json"; exit 1; }
json_check "$tmp/fa.json" 'r["first_divergence"]["kind"] == "result"' 'r["first_divergence"]["function"] == "WSPRegisterMemory"'
json_check "$tmp/fb.json" 'not r["ok"]' '"stopped" in r'
echo "coordinator replays OK"
