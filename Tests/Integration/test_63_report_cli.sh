#!/usr/bin/env bash
# sanreplay report: one self-contained HTML page (no script, nothing fetched), charts as inline
# SVG, for two runs the diff table with the regression highlighted and the diff's exit code.
# When Chromium is installed, the page is also rendered headless (tools/report/screenshot) and
# the screenshot must exist; without it that step is reported as not run.
set -euo pipefail
cd "$(dirname "$0")/../.."
sanreplay="${SANREPLAY_PRODUCTS:?}/sanreplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
syn() { "$sanreplay" synthesize --workload mixed --iterations 1500 "$@" >/dev/null; }
syn --timing-seed 1 "$work/a.santrace"
syn --timing-seed 2 --slow WSPRdmaWrite=1.5 "$work/b.santrace"
"$sanreplay" report "$work/a.santrace" -o "$work/one.html" >/dev/null
rc=0; "$sanreplay" report "$work/a.santrace" "$work/b.santrace" -o "$work/two.html" >/dev/null || rc=$?
[ "$rc" = 3 ] || { echo "FAIL: report A B exit $rc (expected 3, the diff's)"; fail=1; }
python3 - "$work/one.html" "$work/two.html" <<'PY' || fail=1
import sys, re
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = {}; self.stack = []
    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for k, v in attrs:
            assert k not in ("src", "href"), (tag, k, v)
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    p = P(); p.feed(text)
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags, p.tags
    assert p.tags.get("svg", 0) >= 5 and p.tags.get("polyline", 0) >= 5, p.tags
    urls = re.findall(r"https?://[^\"' )]+", text)
    assert set(urls) <= {"http://www.w3.org/2000/svg"}, set(urls)
two = open(sys.argv[2], encoding="utf-8").read()
rows = re.findall(r'<tr class="reg">(.*?)</tr>', two)
assert len(rows) == 1 and "WSPRdmaWrite" in rows[0], rows
assert 'id="diff"' in two and 'id="diff"' not in open(sys.argv[1]).read()
PY
rc=0; "$sanreplay" report Tests/Corpus/damaged/truncated.santrace -o "$work/x.html" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || { echo "FAIL: damaged report exit $rc"; fail=1; }
if command -v chromium >/dev/null 2>&1; then
    tools/report/screenshot "$work/two.html" "$work/two.png" 1400 2400 >/dev/null
    size=$(stat -c %s "$work/two.png")
    [ "$size" -gt 50000 ] || { echo "FAIL: screenshot of $size bytes"; fail=1; }
    echo "rendered in headless chromium: $size-byte screenshot"
else
    echo "note: chromium not installed: the headless rendering step did not run (tools/report/screenshot installs it)"
fi
exit $fail
