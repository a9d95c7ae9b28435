#!/usr/bin/env bash
# Regenerates Tests/Corpus/damaged: small traces broken in one way each, checked by
# Tests/Integration/test_21_damaged_traces.sh. The outputs are committed; rerun only to change
# them. Usage: Tests/Corpus/make_damaged.sh PATH/TO/sanreplay
set -euo pipefail
cd "$(dirname "$0")/damaged"
sanreplay="${1:?usage: make_damaged.sh PATH/TO/sanreplay}"
rm -rf ./*.santrace dir.santrace
good=$(mktemp /tmp/corpus-XXXXXX.santrace)
rm -f "$good"
"$sanreplay" synthesize --workload mixed --events 3000 --seed 5 --segment-kib 6 "$good" >/dev/null

: > empty.santrace                                             # an empty file
printf 'this is not a trace\n' > text.santrace                 # not SQLite at all
cp "$good" wrong-magic.santrace                                # SQLite magic overwritten
printf 'SQLite format 2\0' | dd of=wrong-magic.santrace bs=1 seek=0 conv=notrunc status=none
sqlite3 foreign.santrace "create table notes (t text); insert into notes values ('a foreign database');"
sqlite3 fake.santrace "pragma application_id = 1396788820; create table t (x);"   # right id, no trace inside
cp "$good" newer-major.santrace                                # format 2.0
sqlite3 newer-major.santrace "update meta set value = '2.0' where key = 'format_version';"
cp "$good" bitflip.santrace                                    # one byte of one segment blob changed
sqlite3 bitflip.santrace "update segments set blob = substr(blob, 1, 200) || x'A5' || substr(blob, 202) where id = 1;"
size=$(stat -c %s "$good")                                     # the last 2.x pages cut off
head -c $(( size - 2 * 4096 - 1000 )) "$good" > truncated.santrace
mkdir dir.santrace && echo "a folder named like a trace" > dir.santrace/.keep
rm -f "$good"
ls -l
