#!/usr/bin/env bash
# wg_rekey.sh - rekeying between our device and wireguard-go, clock-scaled.
#
#   netns $NA                                    netns $NB
#   +------------------------------+            +------------------------------+
#   | overlay-wg --clock-scale 10  |            | wireguard-go  $WB            |
#   |   $WA 10.79.0.1/24 udp 51820 |            |   10.79.0.2/24 udp 51821     |
#   | $VA 192.168.83.1/24 ---------+---veth-----+ $VB 192.168.83.2/24          |
#   +------------------------------+            +------------------------------+
#
# Our protocol clock runs 10x fast: REKEY_AFTER_TIME (120 s) is 12 s real,
# REJECT_AFTER_TIME (180 s) 18 s. A pings B for ~30 s: our side must start
# new handshakes as its keypairs age (>= 2 distinct handshake times seen by
# `wg show` on ours) and traffic must keep flowing across the key changes
# (>= 90% of pings answered; a failed rekey would stop it at 18 s).
# Exit 0 pass, 1 fail, 77 skipped.
set -u
[[ $EUID -eq 0 ]] || { echo "skip: needs root"; exit 77; }
for c in wireguard-go wg ip ping timeout; do
  command -v "$c" >/dev/null || { echo "skip: missing $c"; exit 77; }
done
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
OWG=$BUILD_DIR/net/wg/overlay-wg
[[ -x $OWG ]] || { echo "FAIL: $OWG missing"; exit 1; }

id=$$
NA=owra$id NB=owrb$id VA=owrva$id VB=owrvb$id WA=owra$id WB=owrb$id
TMP=$(mktemp -d /tmp/wg_rekey.XXXXXX)
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do [[ -d /proc/$p ]] || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  ip netns del "$NA" 2>/dev/null
  ip netns del "$NB" 2>/dev/null
  rm -f "/var/run/wireguard/$WA.sock" "/var/run/wireguard/$WB.sock"
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- ours:"; cat "$TMP/a.log"; echo "--- wg-go:"; grep -v '[│┌└]' "$TMP/b.log"; exit 1; }
nsA() { ip netns exec "$NA" "$@"; }
nsB() { ip netns exec "$NB" "$@"; }

ip netns add "$NA"; ip netns add "$NB"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
nsA ip link set lo up; nsB ip link set lo up
nsA ip addr add 192.168.83.1/24 dev "$VA"; nsB ip addr add 192.168.83.2/24 dev "$VB"
nsA ip link set "$VA" up; nsB ip link set "$VB" up
ip netns exec "$NA" "$OWG" --clock-scale 10 --address 10.79.0.1/24 "$WA" >"$TMP/a.log" 2>&1 &
PIDS+=($!)
LOG_LEVEL=error ip netns exec "$NB" wireguard-go -f "$WB" >"$TMP/b.log" 2>&1 &
PIDS+=($!)
for s in "$WA" "$WB"; do
  timeout 5 bash -c "until [[ -S /var/run/wireguard/$s.sock ]]; do sleep 0.1; done" \
    || fail "UAPI socket $s did not appear"
done
nsB ip addr add 10.79.0.2/24 dev "$WB"; nsB ip link set "$WB" mtu 1420 up
umask 077
wg genkey >"$TMP/a.key"; wg pubkey <"$TMP/a.key" >"$TMP/a.pub"
wg genkey >"$TMP/b.key"; wg pubkey <"$TMP/b.key" >"$TMP/b.pub"
nsA wg set "$WA" listen-port 51820 private-key "$TMP/a.key" \
  peer "$(cat "$TMP/b.pub")" endpoint 192.168.83.2:51821 allowed-ips 10.79.0.2/32 || fail "wg set ours"
nsB wg set "$WB" listen-port 51821 private-key "$TMP/b.key" \
  peer "$(cat "$TMP/a.pub")" endpoint 192.168.83.1:51820 allowed-ips 10.79.0.1/32 || fail "wg set wg-go"

echo "== ping A->B for ~30 s across rekeys (protocol clock x10)"
timeout 45 ip netns exec "$NA" ping -c 60 -i 0.5 -W 2 10.79.0.2 >"$TMP/ping" 2>&1 &
PING=$!; PIDS+=($PING)
for _ in $(seq 1 16); do
  nsA wg show "$WA" latest-handshakes | awk '{print $2}' >>"$TMP/hs"
  sleep 2
done
wait "$PING"
received=$(awk '/packets transmitted/ {print $4}' "$TMP/ping")
handshakes=$(grep -v '^0$' "$TMP/hs" | sort -u | wc -l)
echo "pings answered: ${received:-0}/60; distinct handshake times: $handshakes ($(sort -u "$TMP/hs" | tr '\n' ' '))"
(( handshakes >= 2 )) || fail "no rekey happened"
(( ${received:-0} >= 54 )) || fail "traffic did not survive the rekeys"
echo "PASS"
exit 0
