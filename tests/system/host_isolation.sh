#!/usr/bin/env bash
# Firewall isolation with real traffic, egress masquerade, and an exact
# teardown. Everything host-side happens in namespace H (our "host").
#
#   A1 (red)   A2 (red)    B1 (blue)   X (no network)        W ("internet")
#   .1.2       .2.2        .3.2        .4.2                  198.51.100.2
#    |eth0      |eth0       |eth0       |eth0                 |eth0
#  zl-a1-b    zl-a2-b     zl-b1-b     zl-x-b   (bridges, .N.1) |
#    +----------+-----------+-----------+---- H ---- wan0 ----+
#               node IP 10.200.0.1 on zl-node-g (a bridge standing in for wg)   198.51.100.1
#  cluster 10.200.0.0/16; W has no route back to it (only masquerade works)
#  IPv6 too: cluster fd00:200::/48, member N has fd00:200:0:N::2, bridge ::1,
#  node fd00:200::1 (A1, A2, B1 fenced the same way in v6)
#
#  S1 (red) .5.2 and S2 (blue) .5.3 share one bridge zl-s-sh (.5.1): their
#  frames are bridged, never routed, so the bridge-family twin must fence them.
#
# Checks: red<->red passes, red<->blue, red<->X fail both ways; members reach
# the node IP and W; per-interface IPv6 forwarding only; after `revert` H's
# links, addresses, routes, ruleset, iptables and sysctls equal the baseline.
set -u
[ "$(id -u)" = 0 ] || exit 77
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HC="$BUILD_DIR/net/host/overlay-hostctl"
[ -x "$HC" ] || { echo "missing $HC"; exit 1; }

S=hi$$
H=${S}h W=${S}w
MEMBERS="a1 a2 b1 x"
SHARED="s1 s2"
DATA=$(mktemp -d /tmp/ovl-host-iso.XXXXXX)
TABLE=ovliso$$
fail=0

cleanup() {
  for ns in $H $W $(for m in $MEMBERS $SHARED; do echo ${S}$m; done); do
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "$DATA"
}
trap cleanup EXIT

hc() { ip netns exec $H "$HC" --data "$DATA" --table $TABLE "$@"; }
check() {  # description, command...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
check_not() {
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then echo "FAIL $what"; fail=1; else echo "ok   $what"; fi
}
ping1() { ip netns exec ${S}$1 ping -c1 -W1 -q "$2"; }

snapshot() {
  ip netns exec $H sh -c '
    ip -j link; echo; ip -j addr; echo; ip -j route; echo; ip -6 -j route; echo
    nft list ruleset; iptables-save 2>/dev/null | grep -v "^#"
    cat /proc/sys/net/ipv4/ip_forward
    for f in /proc/sys/net/ipv6/conf/*/forwarding; do echo "$f $(cat "$f")"; done'
}

# --- baseline "host": H with a WAN link to W -----------------------------------
ip netns add $H && ip netns add $W || exit 1
for m in $MEMBERS $SHARED; do ip netns add ${S}$m || exit 1; done
ip -n $H link set lo up
# No DAD: a "tentative" flag still set in the baseline would differ later.
ip netns exec $H sysctl -qw net.ipv6.conf.default.accept_dad=0
ip -n $H link add wan0 type veth peer name eth0 netns $W
ip -n $H addr add 198.51.100.1/24 dev wan0 && ip -n $H link set wan0 up
ip -n $W addr add 198.51.100.2/24 dev eth0 && ip -n $W link set eth0 up && ip -n $W link set lo up
ip -n $H link add zl-node-g type bridge  # stand-in for the WireGuard device
ip -n $H addr add 10.200.0.1/32 dev zl-node-g
ip -n $H addr add fd00:200::1/128 dev zl-node-g
ip -n $H link set zl-node-g up
before=$(snapshot)

# --- overlay setup through the mutator (journaled) ---------------------------
net=1
{
  echo "m-fwd4"
  echo "m-subnet 10.200.0.0/16,fd00:200::/48"
  echo "m-masq 10.200.0.0/16"
  for m in $MEMBERS; do
    echo "m-bridge zl-$m-b"
    echo "m-addr zl-$m-b 10.200.$net.1/24"
    echo "link-up zl-$m-b"
    echo "m-veth veth-1-$m vc-1-$m"
    echo "master veth-1-$m zl-$m-b"
    echo "link-up veth-1-$m"
    echo "m-fwd6 zl-$m-b"
    echo "m-move vc-1-$m ${S}$m eth0"
    echo "in-netns ${S}$m link-up lo"
    echo "in-netns ${S}$m addr-add eth0 10.200.$net.2/24"
    echo "in-netns ${S}$m link-up eth0"
    echo "in-netns ${S}$m route-default 10.200.$net.1"
    echo "m-addr zl-$m-b fd00:200:0:$net::1/64"
    echo "in-netns ${S}$m addr-add eth0 fd00:200:0:$net::2/64"
    echo "in-netns ${S}$m route-default fd00:200:0:$net::1"
    net=$((net + 1))
  done
  echo "m-bridge zl-s-sh"
  echo "m-addr zl-s-sh 10.200.5.1/24"
  echo "link-up zl-s-sh"
  host=2
  for m in $SHARED; do
    echo "m-veth veth-1-$m vc-1-$m"
    echo "master veth-1-$m zl-s-sh"
    echo "link-up veth-1-$m"
    echo "m-move vc-1-$m ${S}$m eth0"
    echo "in-netns ${S}$m link-up lo"
    echo "in-netns ${S}$m addr-add eth0 10.200.5.$host/24"
    echo "in-netns ${S}$m link-up eth0"
    echo "in-netns ${S}$m route-default 10.200.5.1"
    host=$((host + 1))
  done
  echo "m-member red 10.200.5.2 10.200.0.1 10.200.0.0/16"
  echo "m-member blue 10.200.5.3 10.200.0.1 10.200.0.0/16"
  echo "m-member red 10.200.1.2 10.200.0.1 10.200.0.0/16"
  echo "m-member red 10.200.2.2 10.200.0.1 10.200.0.0/16"
  echo "m-member blue 10.200.3.2 10.200.0.1 10.200.0.0/16"
  echo "m-member red fd00:200:0:1::2 fd00:200::1 fd00:200::/48"
  echo "m-member red fd00:200:0:2::2 fd00:200::1 fd00:200::/48"
  echo "m-member blue fd00:200:0:3::2 fd00:200::1 fd00:200::/48"
} | hc batch || { echo "FAIL setup"; exit 1; }

# Bridge ports need a moment to reach forwarding (STP is off: no delay).
for m in a1 s1 s2; do
  for i in $(seq 1 20); do ping1 $m 10.200.0.1 >/dev/null 2>&1 && break; sleep 0.2; done
done

check "red member reaches red member across bridges"     ping1 a1 10.200.2.2
check "red member reaches red member (reverse)"          ping1 a2 10.200.1.2
check_not "red member cannot reach blue member"          ping1 a1 10.200.3.2
check_not "blue member cannot reach red member"          ping1 b1 10.200.1.2
check_not "red member cannot reach the non-member"       ping1 a1 10.200.4.2
check_not "non-member cannot reach a red member"         ping1 x 10.200.2.2
check "members reach the node IP"                        ping1 b1 10.200.0.1
check_not "red and blue on one shared bridge are fenced (L2)" ping1 s1 10.200.5.3
check_not "blue and red on one shared bridge are fenced (L2)" ping1 s2 10.200.5.2
check "shared-bridge red member reaches routed red member" ping1 s1 10.200.1.2
check "shared-bridge blue member reaches routed blue member" ping1 s2 10.200.3.2
for i in $(seq 1 20); do ping1 a1 fd00:200::1 >/dev/null 2>&1 && break; sleep 0.2; done
check "v6: red member reaches red member"                 ping1 a1 fd00:200:0:2::2
check_not "v6: red member cannot reach blue member"       ping1 a1 fd00:200:0:3::2
check_not "v6: non-member cannot reach a red member"      ping1 x fd00:200:0:1::2
check "v6: non-member reaches a blue member's node IP"    ping1 x fd00:200::1
check "isolated member reaches W through masquerade"     ping1 a1 198.51.100.2
check "non-member reaches W through masquerade"          ping1 x 198.51.100.2
check "ip_forward was enabled" \
  test "$(ip netns exec $H cat /proc/sys/net/ipv4/ip_forward)" = 1
check "IPv6 forwarding is per interface" \
  test "$(ip netns exec $H cat /proc/sys/net/ipv6/conf/zl-a1-b/forwarding)" = 1
if [ -e /proc/sys/net/ipv6/conf/lo/force_forwarding ]; then
  check "IPv6 force_forwarding set on the ingress bridge (kernel >= 6.17)" \
    test "$(ip netns exec $H cat /proc/sys/net/ipv6/conf/zl-a1-b/force_forwarding)" = 1
fi
check "IPv6 all.forwarding untouched" \
  test "$(ip netns exec $H cat /proc/sys/net/ipv6/conf/all/forwarding)" = 0
check "nft shows our table with both isolation sets" \
  sh -c "ip netns exec $H nft -j list table inet $TABLE | grep -q m4_n_blue"

# Removing a member is one set update: A2 leaves red; A1 -> A2 now falls
# through to the plain cluster accept (A2 is no longer fenced) but A1 is.
hc m-unmember red 10.200.2.2 || fail=1
check_not "a fenced member cannot reach a member that left its network" ping1 a1 10.200.2.2
check "a member that left reaches the non-member" ping1 a2 10.200.4.2
hc m-member red 10.200.2.2 10.200.0.1 10.200.0.0/16 || fail=1
check "re-adding restores red traffic" ping1 a1 10.200.2.2

# --- teardown ---------------------------------------------------------------
hc revert || { echo "FAIL revert"; fail=1; }
after=$(snapshot)
if [ "$before" = "$after" ]; then
  echo "ok   teardown restored links, addresses, routes, ruleset, iptables, sysctls"
else
  echo "FAIL teardown differs from baseline:"; diff <(echo "$before") <(echo "$after") | head -40
  fail=1
fi
check "journal is empty after revert" sh -c "! grep -q kind '$DATA/host-journal.json'"
exit $fail
