#!/usr/bin/env bash
# A C program that knows only the CSanABI headers loads the tcp provider, fetches the extensions,
# connects over loopback (listen + nonblocking connect + accept with a condition function),
# registers and RDMA-writes, and checks that the bytes landed in the target region.
set -euo pipefail
bin="${SANREPLAY_PRODUCTS:?}"
"$bin/san_smoke" "$bin/libsan_tcp.so" --expect-data
# Only WSPStartupEx is exported (Sources/CSanABI/provider.map), and no Foundation is linked.
exported=$(nm -D --defined-only --extern-only "$bin/libsan_tcp.so" | awk '{print $3}')
[ "$exported" = "WSPStartupEx" ] || { echo "libsan_tcp.so exports: $exported"; exit 1; }
if ldd "$bin/libsan_tcp.so" | grep -c -i foundation >/dev/null; then
    echo "libsan_tcp.so links Foundation"; exit 1
fi
