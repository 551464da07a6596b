#!/usr/bin/env bash
# wg_interop.sh - our userspace WireGuard device against wireguard-go.
#
#   netns $NA                                   netns $NB
#   +-----------------------------+            +-----------------------------+
#   | overlay-wg  $WA             |            | wireguard-go  $WB           |
#   |   10.77.0.1/24  udp 51820   |            |   10.77.0.2/24  udp 51821   |
#   | $VA 192.168.79.1/24 --------+---veth-----+ $VB 192.168.79.2/24 (.4)    |
#   +-----------------------------+            +-----------------------------+
#
# Checks: ping both ways; iperf3 TCP (3 s) A->B; `wg show` on ours reports a
# handshake and transfer counters; roaming: B's underlay moves to .4, B
# pings A, our device follows the new source (wg show endpoint) and A->B
# traffic keeps flowing. Exit 0 pass, 1 fail, 77 skipped (not root).
set -u
[[ $EUID -eq 0 ]] || { echo "skip: needs root"; exit 77; }
for c in wireguard-go wg iperf3 ip ping timeout; do
  command -v "$c" >/dev/null || { echo "skip: missing $c"; exit 77; }
done
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
OWG=$BUILD_DIR/net/wg/overlay-wg
[[ -x $OWG ]] || { echo "FAIL: $OWG missing"; exit 1; }

id=$$
NA=owia$id NB=owib$id VA=owva$id VB=owvb$id WA=owa$id WB=owb$id
TMP=$(mktemp -d /tmp/wg_interop.XXXXXX)
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
fail() { echo "FAIL: $*"; echo "--- ours:"; cat "$TMP/a.log"; echo "--- wg-go:"; cat "$TMP/b.log"; exit 1; }
nsA() { ip netns exec "$NA" "$@"; }
nsB() { ip netns exec "$NB" "$@"; }

ip netns add "$NA"; ip netns add "$NB"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
nsA ip link set lo up; nsB ip link set lo up
nsA ip addr add 192.168.79.1/24 dev "$VA"; nsB ip addr add 192.168.79.2/24 dev "$VB"
nsA ip link set "$VA" up; nsB ip link set "$VB" up

# Background processes via `ip netns exec` itself (it execs): $! is then the
# process, not a subshell, so cleanup can stop it.
ip netns exec "$NA" "$OWG" --address 10.77.0.1/24 "$WA" >"$TMP/a.log" 2>&1 &
PIDS+=($!)
LOG_LEVEL=error ip netns exec "$NB" wireguard-go -f "$WB" >"$TMP/b.log" 2>&1 &
PIDS+=($!)
for s in "$WA" "$WB"; do
  timeout 5 bash -c "until [[ -S /var/run/wireguard/$s.sock ]]; do sleep 0.1; done" \
    || fail "UAPI socket $s did not appear"
done
nsB ip addr add 10.77.0.2/24 dev "$WB"
nsB ip link set "$WB" mtu 1420 up

umask 077
wg genkey >"$TMP/a.key"; wg pubkey <"$TMP/a.key" >"$TMP/a.pub"
wg genkey >"$TMP/b.key"; wg pubkey <"$TMP/b.key" >"$TMP/b.pub"
wg genpsk >"$TMP/psk"
nsA wg set "$WA" listen-port 51820 private-key "$TMP/a.key" \
  peer "$(cat "$TMP/b.pub")" preshared-key "$TMP/psk" endpoint 192.168.79.2:51821 allowed-ips 10.77.0.2/32 \
  || fail "wg set on ours"
nsB wg set "$WB" listen-port 51821 private-key "$TMP/b.key" \
  peer "$(cat "$TMP/a.pub")" preshared-key "$TMP/psk" endpoint 192.168.79.1:51820 allowed-ips 10.77.0.1/32 \
  || fail "wg set on wireguard-go"

echo "== ping A->B and B->A"
timeout 15 ip netns exec "$NA" ping -c 3 -i 0.2 -W 3 10.77.0.2 >"$TMP/ping1" 2>&1 || { cat "$TMP/ping1"; fail "ping A->B"; }
timeout 15 ip netns exec "$NB" ping -c 3 -i 0.2 -W 3 10.77.0.1 >"$TMP/ping2" 2>&1 || { cat "$TMP/ping2"; fail "ping B->A"; }

echo "== iperf3 TCP 3 s A->B"
ip netns exec "$NB" iperf3 -s -1 -p 5201 >"$TMP/iperf-s.log" 2>&1 &
PIDS+=($!)
timeout 5 bash -c "until ip netns exec $NB ss -ltn | grep -q ':5201 '; do sleep 0.1; done" || fail "iperf3 server"
timeout 20 ip netns exec "$NA" iperf3 -c 10.77.0.2 -p 5201 -t 3 -f m >"$TMP/iperf.log" 2>&1 \
  || { cat "$TMP/iperf.log"; fail "iperf3"; }
grep -E 'receiver' "$TMP/iperf.log"

echo "== wg show on ours"
nsA wg show "$WA" | tee "$TMP/show"
grep -q "latest handshake:" "$TMP/show" || fail "no handshake in wg show"
grep -Eq "transfer: .* received, .* sent" "$TMP/show" || fail "no transfer counters in wg show"
read -r _ _ _ _ hs rx tx _ < <(nsA wg show "$WA" dump | tail -n 1)
# A sent the iperf3 data (megabytes); what it received is mostly TCP ACKs,
# whose volume depends on how the receiver coalesces them (~1 MB, sometimes
# less): the check is that both directions counted real traffic.
(( hs > 0 && rx > 100000 && tx > 1000000 )) || fail "dump: handshake=$hs rx=$rx tx=$tx"
nsA wg showconf "$WA" >"$TMP/conf" || fail "wg showconf"
grep -q "PresharedKey" "$TMP/conf" || fail "showconf lacks the PSK"

echo "== roaming: B's underlay moves from .2 to .4"
# (delete first: removing a primary address also removes its secondaries)
nsB ip addr del 192.168.79.2/24 dev "$VB"
nsB ip addr add 192.168.79.4/24 dev "$VB"
# wireguard-go pins the source address it last used; re-setting the endpoint
# clears that pin (what we test is that OUR side follows the new source).
nsB wg set "$WB" peer "$(cat "$TMP/a.pub")" endpoint 192.168.79.1:51820
timeout 15 ip netns exec "$NB" ping -c 2 -i 0.2 -W 3 10.77.0.1 >"$TMP/ping3" 2>&1 || { cat "$TMP/ping3"; fail "ping B->A after move"; }
ep=$(nsA wg show "$WA" endpoints | awk '{print $2}')
[[ $ep == 192.168.79.4:51821 ]] || fail "our endpoint did not roam (is $ep)"
timeout 15 ip netns exec "$NA" ping -c 2 -i 0.2 -W 3 10.77.0.2 >"$TMP/ping4" 2>&1 || { cat "$TMP/ping4"; fail "ping A->B after move"; }

echo "PASS"
exit 0
