#!/usr/bin/env bash
# Crash recovery from the host journal: a process makes host changes through
# the mutator and is killed with SIGKILL; a restart reads the journal and
# (default) reverts everything, or (adopt) keeps what still exists as ours.
# Also: the PID-keyed orphan veth sweep, and networkd/NM drop-ins (temp dirs).
#
#   namespace H:  iptables FORWARD DROP (pre-existing), then by the victim:
#     zl-c-b (bridge, 10.201.0.1/24)  veth-1-c <-> vc-1-c   route 10.201.9.9/32
#     ip_forward, per-iface v6 forwarding, nft table, iptables accepts,
#     isolation member, drop-ins in $DATA/networkd and $DATA/nm
#   kill -9 -> `recover` -> H equals its baseline
set -u
[ "$(id -u)" = 0 ] || exit 77
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HC="$BUILD_DIR/net/host/overlay-hostctl"
[ -x "$HC" ] || { echo "missing $HC"; exit 1; }

H=hc$$h
DATA=$(mktemp -d /tmp/ovl-host-crash.XXXXXX)
TABLE=ovlcrash$$
victim=""
fail=0
cleanup() {
  [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null
  ip netns del $H 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT

mkdir -p "$DATA/networkd" "$DATA/nm" "$DATA/j"
hc() { ip netns exec $H "$HC" --data "$DATA/j" --table $TABLE --networkd "$DATA/networkd" --nm "$DATA/nm" "$@"; }
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
snapshot() {
  ip netns exec $H sh -c 'ip -j link; ip -j addr; ip -j route; ip -6 -j route; nft list ruleset;
    iptables-nft-save | grep -v "^#" | sed "s/\[[0-9]*:[0-9]*\]//"
    cat /proc/sys/net/ipv4/ip_forward
    for f in /proc/sys/net/ipv6/conf/*/forwarding; do echo "$f $(cat "$f")"; done'
  ls "$DATA/networkd" "$DATA/nm"
}

ip netns add $H || exit 1
ip netns exec $H sysctl -qw net.ipv6.conf.default.accept_dad=0
ip -n $H link set lo up
ip netns exec $H iptables-nft -P FORWARD DROP
before=$(snapshot)

run_victim() {  # starts the victim, waits until it has made every change
  {
    cat <<CMDS
m-unmanaged
m-fwd4
m-bridge zl-c-b
m-addr zl-c-b 10.201.0.1/24
link-up zl-c-b
m-fwd6 zl-c-b
m-veth veth-1-c vc-1-c
master veth-1-c zl-c-b
m-route 10.201.9.9/32 zl-c-b 10.201.0.1
m-subnet 10.201.0.0/16
m-masq 10.201.0.0/16
m-member red 10.201.0.7 10.201.0.1 10.201.0.0/16
print ready
sleep 60
CMDS
  } > "$DATA/cmds"
  ip netns exec $H "$HC" --data "$DATA/j" --table $TABLE --networkd "$DATA/networkd" \
    --nm "$DATA/nm" batch < "$DATA/cmds" > "$DATA/out" 2>&1 &
  victim=$!
  for i in $(seq 1 50); do grep -q ready "$DATA/out" 2>/dev/null && return 0; sleep 0.1; done
  cat "$DATA/out"; return 1
}

kill_victim() { kill -9 "$victim"; wait "$victim" 2>/dev/null; victim=""; }

# --- crash, then revert -------------------------------------------------------
run_victim || { bad "victim did not finish its changes"; exit 1; }
kill_victim
ip -n $H link show zl-c-b >/dev/null 2>&1 && ok "bridge left behind by the crash" || bad "no bridge after crash"
[ -f "$DATA/networkd/00-overlayd-unmanaged.network" ] && ok "networkd drop-in written" || bad "networkd drop-in"
grep -q "unmanaged-devices=interface-name:zl-\*" "$DATA/nm/99-overlayd-unmanaged.conf" 2>/dev/null \
  && ok "NetworkManager drop-in written" || bad "NM drop-in"
ip netns exec $H iptables-nft-save | grep -q "overlayd:$TABLE" && ok "iptables accepts left behind" \
  || bad "iptables accepts missing before recovery"
out=$(hc recover) || bad "recover failed: $out"
echo "$out" | grep -q "leftover=1[0-9]" && ok "restart found the crashed run's journal ($out)" \
  || bad "leftover count: $out"
after=$(snapshot)
if [ "$before" = "$after" ]; then ok "revert after kill -9 leaked nothing"; else
  bad "state after recovery differs"; diff <(echo "$before") <(echo "$after") | head -30; fi

# --- crash, then adopt (and the adopted state reverts cleanly later) -----------
run_victim || { bad "victim (2) did not finish"; exit 1; }
kill_victim
ip -n $H link del veth-1-c   # something vanished while we were down
hc recover adopt >/dev/null || bad "recover adopt"
j=$(hc journal)
echo "$j" | grep -q "name=zl-c-b" && ok "adopted the surviving bridge" || bad "bridge not adopted"
echo "$j" | grep -q "name=veth-1-c" && bad "kept a record of a vanished link" \
  || ok "dropped the record of a vanished link"
hc revert || bad "revert after adopt"
after=$(snapshot)
if [ "$before" = "$after" ]; then ok "adopted changes revert to the baseline"; else
  bad "state after adopt+revert differs"; diff <(echo "$before") <(echo "$after") | head -30; fi

# --- orphan veth sweep ----------------------------------------------------------
dead=$( (sh -c 'echo $$') )   # a PID that has exited
while [ -d /proc/$dead ]; do dead=$((dead + 1)); done
ip -n $H link add veth-$dead-s type veth peer name vc-$dead-s
ip -n $H link add veth-1-s type veth peer name vc-1-s
ip -n $H link add veth-x-s type veth peer name other0
ip netns exec $H "$HC" sweep-veths >/dev/null || bad "sweep"
ip -n $H link show veth-$dead-s >/dev/null 2>&1 && bad "orphan of a dead PID kept" \
  || ok "orphan veth of a dead PID swept"
ip -n $H link show veth-1-s >/dev/null 2>&1 && ok "veth of a live PID kept" || bad "live PID's veth swept"
ip -n $H link show veth-x-s >/dev/null 2>&1 && ok "non-PID name kept" || bad "non-PID name swept"
exit $fail
