#!/usr/bin/env bash
# bench/flood.sh - goodput an established peer keeps while a third namespace
# floods the device with handshake initiations (valid MAC1, random keys).
#
#   netns $NC (attacker)       netns $NA (ours)                  netns $NB (ours)
#   python3: initiations  -->  overlay-wg 10.88.0.1  <== WG ==>  overlay-wg 10.88.0.2
#   192.168.88.2               192.168.88.1 / 192.168.87.1       192.168.87.2
#                              iperf3 -c 10.88.0.2  ------------> iperf3 -s
#
#   bench/flood.sh [BUILD_DIR]       SECS=8 FLOODERS=2 (python processes)
#
# Prints both iperf3 runs (B->A direction: A receives the data and the flood)
# and "goodput kept under flood: N%" (issue 12's goal: >= 80%). No assertion.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-$here/build}
OWG=$BUILD_DIR/net/wg/overlay-wg
SECS=${SECS:-8}
FLOODERS=${FLOODERS:-2}
id=$$
NA=flA$id NB=flB$id NC=flC$id WA=flwa$id WB=flwb$id
TMP=$(mktemp -d /tmp/flood.XXXXXX)
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  for ns in "$NA" "$NB" "$NC"; do ip netns del "$ns" 2>/dev/null; done
  rm -f "/var/run/wireguard/$WA.sock" "/var/run/wireguard/$WB.sock"
  rm -rf "$TMP"
}
trap cleanup EXIT
for ns in "$NA" "$NB" "$NC"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add va$id netns "$NA" type veth peer name vb$id netns "$NB"
ip link add vac$id netns "$NA" type veth peer name vc$id netns "$NC"
ip -n "$NA" addr add 192.168.87.1/24 dev va$id; ip -n "$NB" addr add 192.168.87.2/24 dev vb$id
ip -n "$NA" addr add 192.168.88.1/24 dev vac$id; ip -n "$NC" addr add 192.168.88.2/24 dev vc$id
ip -n "$NA" link set va$id up; ip -n "$NA" link set vac$id up
ip -n "$NB" link set vb$id up; ip -n "$NC" link set vc$id up
ip netns exec "$NA" "$OWG" --address 10.88.0.1/24 "$WA" >"$TMP/a.log" 2>&1 & PIDS+=($!)
PID_A=$!
ip netns exec "$NB" "$OWG" --address 10.88.0.2/24 "$WB" >"$TMP/b.log" 2>&1 & PIDS+=($!)
for s in "$WA" "$WB"; do timeout 5 bash -c "until [[ -S /var/run/wireguard/$s.sock ]]; do sleep 0.1; done"; done
wg genkey >"$TMP/a.key"; wg pubkey <"$TMP/a.key" >"$TMP/a.pub"
wg genkey >"$TMP/b.key"; wg pubkey <"$TMP/b.key" >"$TMP/b.pub"
ip netns exec "$NA" wg set "$WA" listen-port 51820 private-key "$TMP/a.key" \
  peer "$(cat "$TMP/b.pub")" endpoint 192.168.87.2:51821 allowed-ips 10.88.0.2/32
ip netns exec "$NB" wg set "$WB" listen-port 51821 private-key "$TMP/b.key" \
  peer "$(cat "$TMP/a.pub")" endpoint 192.168.87.1:51820 allowed-ips 10.88.0.1/32
ip netns exec "$NA" ping -c 3 -i 0.2 -W 3 10.88.0.2 >/dev/null
# -D daemonizes: its pid comes from the pidfile, so cleanup can stop it.
ip netns exec "$NA" iperf3 -s -D -p 5201 --logfile "$TMP/iperf-s.log" -I "$TMP/iperf-s.pid"
for _ in $(seq 50); do [ -s "$TMP/iperf-s.pid" ] && break; sleep 0.1; done
PIDS+=("$(tr -d '\0' < "$TMP/iperf-s.pid")")
sleep 0.5
run() {  # label -> Mbit/s (B sends to A: A decrypts while flooded)
  ip netns exec "$NB" iperf3 -c 10.88.0.1 -p 5201 -t "$SECS" -J >"$TMP/$1.json"
  jq '.end.sum_received.bits_per_second / 1e6 | floor' "$TMP/$1.json"
}
base=$(run quiet)
cat >"$TMP/flood.py" <<'PY'
import base64, hashlib, os, socket, sys, time
pub = base64.b64decode(open(sys.argv[1]).read().strip())
dst, secs = (sys.argv[2], 51820), float(sys.argv[3])
mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
body = bytearray(os.urandom(148)); body[0:4] = b"\x01\x00\x00\x00"
end, n = time.time() + secs, 0
while time.time() < end:
    for _ in range(64):
        body[4:8] = os.urandom(4); body[8:40] = os.urandom(32)
        body[116:132] = hashlib.blake2s(bytes(body[:116]), digest_size=16, key=mac1_key).digest()
        try: s.sendto(body, dst)
        except OSError: pass
        n += 1
print(n)
PY
for _ in $(seq "$FLOODERS"); do
  timeout $((SECS + 10)) ip netns exec "$NC" python3 "$TMP/flood.py" "$TMP/a.pub" 192.168.88.1 $((SECS + 2)) >>"$TMP/flood.out" &
  PIDS+=($!)
done
sleep 1
flooded=$(run flooded)
wait "${PIDS[@]: -$FLOODERS}" 2>/dev/null || true
echo "iperf3 B->A quiet:   ${base} Mbit/s"
echo "iperf3 B->A flooded: ${flooded} Mbit/s ($(paste -sd+ "$TMP/flood.out" | bc) initiations sent by $FLOODERS flooders)"
kill "$PID_A"; sleep 1
grep -o 'rate_limited=[0-9]*\|cookie_replies=[0-9]*\|rx_handshake=[0-9]*' "$TMP/a.log" | tr '\n' ' '; echo
awk -v a="$flooded" -v b="$base" 'BEGIN{printf "goodput kept under flood: %.0f%%\n", (b > 0 ? 100 * a / b : 0)}'
