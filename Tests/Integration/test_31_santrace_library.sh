#!/usr/bin/env bash
# libsantrace.so exports only WSPStartupEx and links no Foundation; built with a static Swift
# standard library (as tools/build does) it needs no libswiftCore either, and records a C
# program started with an empty environment (env -i), layered and preloaded, into traces that verify.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${SANREPLAY_PRODUCTS:?}"
check_exports() {
    local exported
    exported=$(nm -D --defined-only --extern-only "$1" | awk '{print $3}')
    [ "$exported" = "WSPStartupEx" ] || { echo "$1 exports: $exported"; exit 1; }
    if ldd "$1" | grep -c libFoundation >/dev/null; then echo "$1 links Foundation"; exit 1; fi
}
check_exports "$bin/libsantrace.so"

# The static-stdlib build (debug here, to keep CI short; tools/build makes the release one).
swift build --scratch-path .build-static -Xswiftc -static-stdlib --product santrace >/dev/null
static=".build-static/debug/libsantrace.so"
check_exports "$static"
if ldd "$static" | grep -c libswiftCore >/dev/null; then echo "$static links libswiftCore"; ldd "$static"; exit 1; fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
static="$(pwd)/$static"
env -i SANTRACE_PROVIDER="$bin/libsan_null.so" SANTRACE_DIR="$out/layered" "$bin/san_smoke" "$static" >/dev/null
env -i LD_PRELOAD="$static" SANTRACE_DIR="$out/preload" "$bin/san_loop" --ops 1000 --mode mixed >/dev/null
for d in layered preload; do
    f=$(ls "$out/$d"/*.santrace 2>/dev/null | head -1)
    [ -n "$f" ] || { echo "no trace from the $d run"; exit 1; }
    "$bin/sanreplay" verify "$f" >/dev/null || { echo "the $d trace does not verify"; "$bin/sanreplay" verify "$f"; exit 1; }
done
echo "libsantrace.so: exports only WSPStartupEx; static build has no libswiftCore; env -i runs traced"
