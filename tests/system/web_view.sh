#!/usr/bin/env bash
# The web view (GET /) in a real browser: headless Chromium, in the daemon's
# namespace, loads the page after the test made requests, and the rendered
# DOM must show them.
#
#   ns N: overlayd --http 127.0.0.1:7420   <-   chromium --headless (in N)
#         global overlay, service web, allocate_ip web
#
# Checks: the DOM shows the allocate_ip request under its correlation id
# (found in the trace API), naming its service, with its hops (external →
# gateway → allocator), the service with its subnet, and the actors table; a
# screenshot is kept in the test logs ($TEST_LOG_DIR, which tests/run_all.sh sets; run alone, the
# screenshot goes with the temp dir).
command -v chromium > /dev/null || { echo "chromium is not installed (scripts/apt-packages.txt lists it)"; exit 1; }
tag=wv$$
. "$(dirname "$0")/lib/one_node.bash"
logs=${TEST_LOG_DIR:-$tmp/keep}
mkdir -p "$logs"
start_daemon --http 127.0.0.1:7420
C() { "$BUILD_DIR/overlayctl" --socket "$tmp/ipc.sock" --timeout-ms 10000 "$@"; }
C global up --cluster 10.200.0.0/16 --slice 10.200.1.0/24 --deployment "$tag" > /dev/null
C service add web > /dev/null
ip=$(C ip alloc web | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])')
# The allocate_ip request's correlation id and hops, from the trace API.
read -r corr hops < <(ip netns exec "$N" curl -sf 'http://127.0.0.1:7420/v1/trace?since=0&limit=1000' | python3 -c '
import json, sys
recs = json.load(sys.stdin)["records"]
[c] = {r["correlation"] for r in recs if r["type"].endswith(":allocate_ip") and r["sender"]["name"] == "external"}
print(c, len([r for r in recs if r["correlation"] == c]))')
subnet=$(ip netns exec "$N" curl -sf http://127.0.0.1:7420/v1/services | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["subnet"])')
echo "allocate_ip: correlation $corr, $hops hops, ip $ip; web $subnet"

chrome() {  # extra args... -> runs headless Chromium in N against the page
  ip netns exec "$N" timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$tmp/chrome$1" --virtual-time-budget=5000 "${@:2}" http://127.0.0.1:7420/ 2>> "$tmp/chrome.log"
}
chrome 1 --dump-dom > "$tmp/dom.html"
python3 - "$tmp/dom.html" "$corr" "$hops" "$subnet" <<'PY'
import html.parser, sys
dom, corr, hops, subnet = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3]), sys.argv[4]

class Blocks(html.parser.HTMLParser):
    """Text of the request block with data-correlation=corr, and all table cells."""
    def __init__(self):
        super().__init__(); self.depth = 0; self.block = []; self.cells = []; self.in_td = False
    def handle_starttag(self, tag, attrs):
        if self.depth: self.depth += 1
        elif ("data-correlation", corr) in attrs: self.depth = 1
        self.in_td = tag == "td"
    def handle_endtag(self, tag):
        if self.depth: self.depth -= 1
        self.in_td = False
    def handle_data(self, d):
        if self.depth: self.block.append(d)
        if self.in_td: self.cells.append(d)

p = Blocks(); p.feed(dom)
text = "\n".join(p.block)
assert text, f"no request block for correlation {corr} in the DOM"
assert f"request {corr} · allocate_ip" in text, text
assert "service web" in text, f"the block does not name the request's service:\n{text}"
assert text.count(" → ") == hops, f"{hops} hops expected:\n{text}"
assert "external → gateway" in text and "gateway → allocator" in text, text
for cell in ("web", "auto", subnet, "allocator", "supervisor"):
    assert cell in p.cells, f"{cell} not in a table cell"
print(f"DOM shows request {corr} with {hops} hops, service web {subnet}, the actors")
PY
chrome 2 --window-size=1280,1400 --screenshot="$logs/web_view.png" > /dev/null
[ -s "$logs/web_view.png" ] || { echo "no screenshot"; exit 1; }
echo "screenshot: $logs/web_view.png"
C shutdown > /dev/null
