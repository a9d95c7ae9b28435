#!/usr/bin/env bash
# Every command that reads traces answers each damaged trace of Tests/Corpus/damaged (and a
# missing path) with exit code 2 and a one-line "sanreplay: …" message: never a crash, a hang or
# a success. verify still reports what is intact in a truncated trace, and --repair recovers it.
set -euo pipefail
cd "$(dirname "$0")/../.."
sanreplay="${SANREPLAY_PRODUCTS:?}/sanreplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r Tests/Corpus/damaged "$work/"
fail=0
for t in "$work"/damaged/*.santrace "$work/damaged/missing.santrace"; do
    for cmd in verify dump stats index; do
        rc=0
        timeout 60 "$sanreplay" $cmd "$t" >"$work/out" 2>"$work/err" || rc=$?
        if [ "$rc" != 2 ] || ! grep -q '^sanreplay: ' "$work/err" || grep -qiE 'fatal error|crash|backtrac' "$work/err"; then
            echo "FAIL: sanreplay $cmd $(basename "$t"): exit $rc"; cat "$work/err"; fail=1
        fi
    done
done
# Specific messages.
check() {  # check FILE PATTERN
    "$sanreplay" dump "$work/damaged/$1" >/dev/null 2>"$work/err" || true
    grep -qE "$2" "$work/err" || { echo "FAIL: $1: no '$2' in:"; cat "$work/err"; fail=1; }
}
check empty.santrace 'empty file'
check text.santrace 'wrong magic'
check wrong-magic.santrace 'wrong magic'
check foreign.santrace 'not a trace \(application_id'
check fake.santrace 'no trace inside'
check newer-major.santrace 'format 2.0 is not readable'
check bitflip.santrace 'segment 1: CRC-32C mismatch'
check truncated.santrace 'database damaged'
check dir.santrace 'is a directory'
# verify names the intact part of the truncated and the bit-flipped traces, repair recovers them.
"$sanreplay" verify "$work/damaged/truncated.santrace" >"$work/out" 2>&1 || true
grep -qE '^segments 0(–[0-9]+)? intact \(' "$work/out" || { echo "FAIL: verify truncated:"; cat "$work/out"; fail=1; }
"$sanreplay" verify "$work/damaged/bitflip.santrace" >"$work/out" 2>&1 || true
grep -q '^segment 1: CRC-32C mismatch' "$work/out" || { echo "FAIL: verify bitflip:"; cat "$work/out"; fail=1; }
for t in truncated bitflip; do
    rc=0; "$sanreplay" verify --repair "$work/damaged/$t.santrace" >"$work/out" 2>&1 || rc=$?
    grep -q '^repaired: kept' "$work/out" && [ "$rc" = 2 ] || { echo "FAIL: repair $t (exit $rc)"; cat "$work/out"; fail=1; }
    "$sanreplay" verify "$work/damaged/$t.santrace" >"$work/out" 2>&1 || { echo "FAIL: $t after repair"; cat "$work/out"; fail=1; }
    "$sanreplay" stats "$work/damaged/$t.santrace" >/dev/null || { echo "FAIL: stats $t after repair"; fail=1; }
done
# A folder without traces, given where a trace set is allowed.
mkdir "$work/empty-set"
rc=0; "$sanreplay" stats "$work/empty-set" 2>"$work/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'no \*.santrace' "$work/err" || { echo "FAIL: stats on an empty folder: exit $rc"; fail=1; }
# Usage errors are 64.
rc=0; "$sanreplay" dump --fn NoSuchFunction "$work/damaged/empty.santrace" 2>/dev/null || rc=$?
[ "$rc" = 64 ] || { echo "FAIL: usage error exit $rc, expected 64"; fail=1; }
exit $fail
