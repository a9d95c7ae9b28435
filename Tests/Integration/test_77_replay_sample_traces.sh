#!/usr/bin/env bash
# The committed sample trace sets (traces/, recorded by sanreplay record) replay on tcp with no
# divergence and every data check passing, on null with statuses and byte counts compared, and
# each side alone against a synthesized peer.
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n=0
for set in "$root"/traces/*/; do
    ls "$set"*.santrace >/dev/null 2>&1 || continue
    name="$(basename "$set")"
    timeout 120 "$bin/sanreplay" replay "$set" --backend tcp --timeout 20 --json >"$tmp/$name.json"
    json_check "$tmp/$name.json" 'r["ok"] and len(r["endpoints"]) == 2' 'r["data"]["checks"] > 0 and r["data"]["failures"] == 0'
    timeout 120 "$bin/sanreplay" replay "$set" --backend null --timeout 20 --json >"$tmp/$name.null.json"
    json_check "$tmp/$name.null.json" 'r["ok"] and r["data"]["skipped"] > 0'
    for f in "$set"*.santrace; do
        timeout 120 "$bin/sanreplay" replay "$f" --backend tcp --timeout 20 --json >"$tmp/one.json"
        json_check "$tmp/one.json" 'r["ok"] and len(r["synthetic"]) == 1' 'r["data"]["failures"] == 0'
    done
    echo "$name: replayed"
    n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "no sample trace sets in $root/traces"; exit 1; }
