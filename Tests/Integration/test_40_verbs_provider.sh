#!/usr/bin/env bash
# libsan_verbs.so loaded by the plain C switch (Tests/CHarness/san_smoke.c). What is asserted
# depends on what this machine has, found by an independent probe (verbs_device_probe.c):
#   no RDMA device / no active port → WSPStartupEx returns WSASYSNOTREADY (10091) and the provider
#                                     writes exactly one "san_verbs: …" line saying why;
#   an active port                  → the whole smoke run succeeds and the RDMA-written bytes arrive.
set -euo pipefail
bin="${SANREPLAY_PRODUCTS:?}"
here="$(cd "$(dirname "$0")" && pwd)"
lib="$bin/libsan_verbs.so"
work="$(mktemp -d "${TMPDIR:-/tmp}/test_40.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Only WSPStartupEx is exported, and no Foundation is linked into a provider.
exported=$(nm -D --defined-only --extern-only "$lib" | awk '{print $3}')
[ "$exported" = "WSPStartupEx" ] || { echo "libsan_verbs.so exports: $exported"; exit 1; }
if ldd "$lib" | grep -c -i foundation >/dev/null; then echo "libsan_verbs.so links Foundation"; exit 1; fi

cc -O1 -Wall -Werror "$here/verbs_device_probe.c" -o "$work/probe" -libverbs
probe="$("$work/probe")"
echo "verbs device probe: $probe"

set +e
"$bin/san_smoke" "$lib" --expect-data >"$work/out" 2>"$work/err"
rc=$?
set -e

case "$probe" in
active-ports\ 0\ *|list-failed\ *)
    [ "$rc" -ne 0 ] || { echo "san_smoke succeeded although the probe found no active RDMA port"; exit 1; }
    grep -qx 'san_smoke: WSPStartupEx returned 10091' "$work/err" || {
        echo "expected WSPStartupEx to return WSASYSNOTREADY (10091); stderr was:"; cat "$work/err"; exit 1; }
    lines="$(grep -c '^san_verbs: ' "$work/err" || true)"
    [ "$lines" = 1 ] || { echo "expected one san_verbs log line, got $lines:"; cat "$work/err"; exit 1; }
    line="$(grep '^san_verbs: ' "$work/err")"
    suffix='; WSPStartupEx fails with WSASYSNOTREADY (see README, "verbs provider")'
    case "$probe" in
    list-failed\ 38\ *)
        expected="san_verbs: no RDMA device: ibv_get_device_list: Function not implemented (ENOSYS)$suffix" ;;
    list-failed\ *)
        message="${probe#list-failed * }"
        expected="san_verbs: no RDMA device: ibv_get_device_list: $message (" ;;
    *)
        expected="san_verbs: " ;;
    esac
    case "$line" in
    "$expected"*) ;;
    *) echo "log line:  $line"; echo "expected:  $expected…"; exit 1 ;;
    esac
    case "$line" in *"$suffix") ;; *) echo "log line does not end with the WSASYSNOTREADY note: $line"; exit 1 ;; esac
    echo "libsan_verbs.so: no usable RDMA port here; startup failed cleanly: $line"
    ;;
active-ports\ *)
    [ "$rc" -eq 0 ] || { echo "san_smoke failed on a machine with an active RDMA port:"; cat "$work/err"; exit 1; }
    grep -q '(data verified): ok' "$work/out" || { echo "no data check in:"; cat "$work/out"; exit 1; }
    cat "$work/out"
    ;;
*)
    echo "unexpected probe output: $probe"; exit 1 ;;
esac
