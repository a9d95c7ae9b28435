#!/usr/bin/env bash
# A C program that knows only the CSanABI headers loads the null provider, fetches the
# extensions, connects, registers and RDMA-writes.
set -euo pipefail
bin="${SANREPLAY_PRODUCTS:?}"
"$bin/san_smoke" "$bin/libsan_null.so"
# Only WSPStartupEx is exported (Sources/CSanABI/provider.map).
exported=$(nm -D --defined-only --extern-only "$bin/libsan_null.so" | awk '{print $3}')
[ "$exported" = "WSPStartupEx" ] || { echo "libsan_null.so exports: $exported"; exit 1; }
