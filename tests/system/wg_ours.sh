#!/usr/bin/env bash
# wg_ours.sh - our userspace WireGuard on both ends, then a handshake flood.
#
#   netns $NC (flooder)         netns $NA (ours)                 netns $NB (ours)
#   +-----------------+        +----------------------------+   +--------------------+
#   | python3: valid- |        | overlay-wg $WA 10.78.0.1   |   | overlay-wg $WB     |
#   | MAC1 initiations|        |   udp 51820                |   |   10.78.0.2        |
#   | $VC 192.168.82.2+--veth--+ $VAC 192.168.82.1          |   |   udp 51821        |
#   +-----------------+        | $VA 192.168.81.1 ----------+---+ $VB 192.168.81.2   |
#                              +----------------------------+   +--------------------+
#
# Checks: ping both ways and a 3 s iperf3 TCP run through ours<->ours; then C
# floods A's port with initiations carrying a valid MAC1 (so they reach the
# handshake queue) for FLOOD_S seconds, at most FLOOD_MAX datagrams, while A
# pings B: >= 80% of those pings must succeed, A must have answered with
# cookie replies (it went "under load") and rate-limited the source to 20
# handshake messages a second (its counters). Finally `wg set peer remove` on B.
# Exit 0 pass, 1 fail, 77 skipped.
set -u
[[ $EUID -eq 0 ]] || { echo "skip: needs root"; exit 77; }
for c in wg iperf3 ip ping timeout python3; do
  command -v "$c" >/dev/null || { echo "skip: missing $c"; exit 77; }
done
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
OWG=$BUILD_DIR/net/wg/overlay-wg
[[ -x $OWG ]] || { echo "FAIL: $OWG missing"; exit 1; }
FLOOD_S=${FLOOD_S:-6}
FLOOD_MAX=${FLOOD_MAX:-400000}

id=$$
NA=owoa$id NB=owob$id NC=owoc$id VA=owva$id VB=owvb$id VAC=owvac$id VC=owvc$id
WA=owa$id WB=owb$id
TMP=$(mktemp -d /tmp/wg_ours.XXXXXX)
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do [[ -d /proc/$p ]] || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  for ns in "$NA" "$NB" "$NC"; do ip netns del "$ns" 2>/dev/null; done
  rm -f "/var/run/wireguard/$WA.sock" "/var/run/wireguard/$WB.sock"
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- A:"; cat "$TMP/a.log"; echo "--- B:"; cat "$TMP/b.log"; exit 1; }
nsA() { ip netns exec "$NA" "$@"; }
nsB() { ip netns exec "$NB" "$@"; }
nsC() { ip netns exec "$NC" "$@"; }

for ns in "$NA" "$NB" "$NC"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
ip link add "$VAC" netns "$NA" type veth peer name "$VC" netns "$NC"
nsA ip addr add 192.168.81.1/24 dev "$VA"; nsB ip addr add 192.168.81.2/24 dev "$VB"
nsA ip addr add 192.168.82.1/24 dev "$VAC"; nsC ip addr add 192.168.82.2/24 dev "$VC"
for l in "$VA" "$VAC"; do nsA ip link set "$l" up; done
nsB ip link set "$VB" up; nsC ip link set "$VC" up

ip netns exec "$NA" "$OWG" --address 10.78.0.1/24 "$WA" >"$TMP/a.log" 2>&1 &
PID_A=$!; PIDS+=($PID_A)
ip netns exec "$NB" "$OWG" --address 10.78.0.2/24 "$WB" >"$TMP/b.log" 2>&1 &
PIDS+=($!)
for s in "$WA" "$WB"; do
  timeout 5 bash -c "until [[ -S /var/run/wireguard/$s.sock ]]; do sleep 0.1; done" \
    || fail "UAPI socket $s did not appear"
done
umask 077
wg genkey >"$TMP/a.key"; wg pubkey <"$TMP/a.key" >"$TMP/a.pub"
wg genkey >"$TMP/b.key"; wg pubkey <"$TMP/b.key" >"$TMP/b.pub"
# setconf path (replace_peers, replace_allowed_ips) on A, set path on B.
cat >"$TMP/a.conf" <<CONF
[Interface]
PrivateKey = $(cat "$TMP/a.key")
ListenPort = 51820

[Peer]
PublicKey = $(cat "$TMP/b.pub")
Endpoint = 192.168.81.2:51821
AllowedIPs = 10.78.0.2/32
CONF
nsA wg setconf "$WA" "$TMP/a.conf" || fail "wg setconf"
nsB wg set "$WB" listen-port 51821 private-key "$TMP/b.key" \
  peer "$(cat "$TMP/a.pub")" endpoint 192.168.81.1:51820 allowed-ips 10.78.0.1/32 persistent-keepalive 5 \
  || fail "wg set"

echo "== ours<->ours ping both ways"
timeout 15 ip netns exec "$NA" ping -c 3 -i 0.2 -W 3 10.78.0.2 >/dev/null 2>&1 || fail "ping A->B"
timeout 15 ip netns exec "$NB" ping -c 3 -i 0.2 -W 3 10.78.0.1 >/dev/null 2>&1 || fail "ping B->A"
echo "== iperf3 TCP 3 s A->B"
ip netns exec "$NB" iperf3 -s -1 -p 5201 >"$TMP/iperf-s.log" 2>&1 &
PIDS+=($!)
timeout 5 bash -c "until ip netns exec $NB ss -ltn | grep -q ':5201 '; do sleep 0.1; done" || fail "iperf3 server"
timeout 20 ip netns exec "$NA" iperf3 -c 10.78.0.2 -p 5201 -t 3 -f m >"$TMP/iperf.log" 2>&1 \
  || { cat "$TMP/iperf.log"; fail "iperf3"; }
grep -E 'receiver' "$TMP/iperf.log"
echo "== syncconf keeps the session (same key, same peer)"
hs1=$(nsA wg show "$WA" latest-handshakes | awk '{print $2}')
nsA wg syncconf "$WA" "$TMP/a.conf" || fail "wg syncconf"
hs2=$(nsA wg show "$WA" latest-handshakes | awk '{print $2}')
[[ $hs1 == "$hs2" && $hs1 != 0 ]] || fail "syncconf disturbed the session ($hs1 -> $hs2)"

echo "== handshake flood from C (${FLOOD_S}s, <= $FLOOD_MAX datagrams) while A pings B"
cat >"$TMP/flood.py" <<'PY'
import base64, hashlib, os, socket, sys, time
pub = base64.b64decode(open(sys.argv[1]).read().strip())
dst, secs, limit = (sys.argv[2], 51820), float(sys.argv[3]), int(sys.argv[4])
mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
body = bytearray(os.urandom(148)); body[0:4] = b"\x01\x00\x00\x00"
end, n = time.time() + secs, 0
while n < limit and time.time() < end:
    for _ in range(64):
        body[4:8] = os.urandom(4)            # sender index
        body[8:40] = os.urandom(32)          # ephemeral
        body[116:132] = hashlib.blake2s(bytes(body[:116]), digest_size=16, key=mac1_key).digest()
        try: s.sendto(body, dst)
        except OSError: pass
        n += 1
print(n)
PY
timeout $((FLOOD_S + 10)) ip netns exec "$NC" python3 "$TMP/flood.py" "$TMP/a.pub" 192.168.82.1 "$FLOOD_S" "$FLOOD_MAX" \
  >"$TMP/flood.out" 2>&1 &
FLOOD_PID=$!; PIDS+=($FLOOD_PID)
sleep 1
timeout $((FLOOD_S + 10)) ip netns exec "$NA" ping -c 30 -i 0.1 -W 2 10.78.0.2 >"$TMP/ping-flood" 2>&1
wait "$FLOOD_PID"
received=$(awk '/packets transmitted/ {print $4}' "$TMP/ping-flood")
echo "flood datagrams sent: $(cat "$TMP/flood.out"); pings received during flood: ${received:-0}/30"
(( ${received:-0} >= 24 )) || fail "established peer stopped passing traffic during the flood"
timeout 10 ip netns exec "$NB" ping -c 2 -i 0.2 -W 3 10.78.0.1 >/dev/null 2>&1 || fail "ping B->A after flood"

# Stop A to read its counters (printed on exit).
kill "$PID_A"; for _ in $(seq 1 50); do [[ -d /proc/$PID_A ]] || break; sleep 0.1; done
grep -o 'cookie_replies=[0-9]*' "$TMP/a.log"
replies=$(grep -o 'cookie_replies=[0-9]*' "$TMP/a.log" | cut -d= -f2)
(( ${replies:-0} > 0 )) || fail "A never went under load (no cookie replies)"
# One source: under load it gets at most 20 handshake messages a second of
# A's work (burst 5); the rest are counted as rate-limited, not answered.
limited=$(grep -o 'rate_limited=[0-9]*' "$TMP/a.log" | cut -d= -f2)
echo "rate_limited=${limited:-0}"
(( ${limited:-0} > 0 )) || fail "the flood was not rate-limited per source"
(( replies <= 20 * (FLOOD_S + 2) + 5 )) || fail "$replies cookie replies to one source: more than its 20/s"
echo "== wg set ... remove on B"
nsB wg set "$WB" peer "$(cat "$TMP/a.pub")" remove || fail "wg set remove"
[[ -z $(nsB wg show "$WB" peers) ]] || fail "peer still listed after remove"
echo "PASS"
exit 0
