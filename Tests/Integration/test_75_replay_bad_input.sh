#!/usr/bin/env bash
# Bad input gets a clear message and the documented exit code, never a crash or a hang:
# 2 for a damaged or unreadable trace, 64 for usage errors and a backend that cannot be loaded.
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
root="$(cd "$(dirname "$0")/../.." && pwd)"
expect() {
    local code="$1" want="$2"; shift 2
    set +e
    timeout 60 "$bin/sanreplay" replay "$@" >"$tmp/o" 2>"$tmp/e"
    local rc=$?
    set -e
    [ "$rc" = "$code" ] || { echo "replay $*: exit $rc, expected $code"; cat "$tmp/o" "$tmp/e"; exit 1; }
    grep -q -- "$want" "$tmp/e" || { echo "replay $*: no '$want' in:"; cat "$tmp/e"; exit 1; }
}
expect 2 "cannot open" "$tmp/missing.santrace"
for f in "$root"/Tests/Corpus/damaged/*.santrace; do
    [ -f "$f" ] || continue
    set +e; timeout 60 "$bin/sanreplay" replay "$f" --backend null >/dev/null 2>"$tmp/e"; rc=$?; set -e
    [ "$rc" = 2 ] || { echo "damaged $f: exit $rc"; cat "$tmp/e"; exit 1; }
done
record_sanperf "$tmp/run" send_lat --iters 10
expect 64 "--pace must be" "$tmp/run" --pace fast
expect 64 "--divergence must be" "$tmp/run" --divergence loose
expect 64 "--endpoint needs --coordinator" "$tmp/run" --endpoint 0
expect 64 "--coordinator needs --endpoint" "$tmp/run" --coordinator 127.0.0.1:1
expect 64 "no endpoint 'nobody'" "$tmp/run" --endpoint nobody --coordinator 127.0.0.1:1
expect 64 "cannot use backend" "$tmp/run" --backend no_such_provider
expect 64 "cannot use backend" "$tmp/run" --backend "$tmp/missing.so"
echo "bad input handled"
