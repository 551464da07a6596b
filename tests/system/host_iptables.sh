#!/usr/bin/env bash
# A host whose iptables filter table already says FORWARD DROP (Docker, UFW,
# firewalld): overlay traffic must flow after setup, and teardown must leave
# the policy and every rule exactly as they were.
#
#   A 10.200.1.2 --eth0/veth-1-ia-- zl-ia-b [ H ] zl-ib-b --veth-1-ib/eth0-- B 10.200.2.2
#                                  iptables: -P FORWARD DROP, -P INPUT DROP,
#                                  plus an unrelated rule that must survive
# Run once with iptables-nft and once with iptables-legacy filter tables.
set -u
[ "$(id -u)" = 0 ] || exit 77
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HC="$BUILD_DIR/net/host/overlay-hostctl"
[ -x "$HC" ] || { echo "missing $HC"; exit 1; }
command -v iptables-nft >/dev/null || { echo "iptables-nft missing"; exit 1; }
command -v iptables-legacy >/dev/null || { echo "iptables-legacy missing"; exit 1; }

S=hp$$
TABLE=ovlipt$$
fail=0
ALL_NS=""
DATA=""

cleanup() {
  for ns in $ALL_NS; do ip netns del "$ns" 2>/dev/null; done
  [ -n "$DATA" ] && rm -rf "$DATA"
}
trap cleanup EXIT

scenario() {  # backend: nft | legacy
BK=$1
IPT=iptables-$BK
H=${S}${BK}h A=${S}${BK}a B=${S}${BK}b
ALL_NS="$ALL_NS $H $A $B"
[ -n "$DATA" ] && rm -rf "$DATA"
DATA=$(mktemp -d /tmp/ovl-host-ipt.XXXXXX)
echo "--- $IPT"

hc() { ip netns exec $H "$HC" --data "$DATA" --table $TABLE "$@"; }
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
snapshot() {
  ip netns exec $H sh -c "$IPT-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; nft list ruleset;
    ip -j link; ip -j addr; ip -j route; cat /proc/sys/net/ipv4/ip_forward"
}
our_rules() { ip netns exec $H $IPT-save | grep -c "overlayd:$TABLE"; }

for ns in $H $A $B; do ip netns add $ns || exit 1; done
ip netns exec $H sysctl -qw net.ipv6.conf.default.accept_dad=0
ip -n $H link set lo up
ip netns exec $H $IPT -P FORWARD DROP
ip netns exec $H $IPT -P INPUT DROP
ip netns exec $H $IPT -A FORWARD -p tcp --dport 9 -j DROP
before=$(snapshot)

# Links and addresses first (journaled), no firewall rules yet.
{
  echo "m-fwd4"
  n=1
  for m in ia ib; do
    ns=$([ $m = ia ] && echo $A || echo $B)
    echo "m-bridge zl-$m-b"
    echo "m-addr zl-$m-b 10.200.$n.1/24"
    echo "link-up zl-$m-b"
    echo "m-veth veth-1-$m vc-1-$m"
    echo "master veth-1-$m zl-$m-b"
    echo "link-up veth-1-$m"
    echo "m-move vc-1-$m $ns eth0"
    echo "in-netns $ns addr-add eth0 10.200.$n.2/24"
    echo "in-netns $ns link-up eth0"
    echo "in-netns $ns route-default 10.200.$n.1"
    n=$((n + 1))
  done
} | hc batch || { echo "FAIL setup"; exit 1; }

if ip netns exec $A ping -c1 -W1 -q 10.200.2.2 >/dev/null 2>&1; then
  bad "FORWARD DROP blocks overlay traffic before our rules"
else
  ok "FORWARD DROP blocks overlay traffic before our rules"
fi

hc m-subnet 10.200.0.0/16 || bad "m-subnet"
hc m-subnet 10.200.0.0/16 || bad "m-subnet (again)"
[ "$(our_rules)" = 3 ] && ok "three tagged accepts, not duplicated" || bad "tagged accepts: $(our_rules)"
for i in 1 2 3 4 5; do ip netns exec $A ping -c1 -W1 -q 10.200.2.2 >/dev/null 2>&1 && break; done
if ip netns exec $A ping -c1 -W1 -q 10.200.2.2 >/dev/null 2>&1; then
  ok "overlay traffic flows through FORWARD DROP after setup"
else
  bad "overlay traffic flows through FORWARD DROP after setup"
fi
if ip netns exec $A ping -c1 -W1 -q 10.200.1.1 >/dev/null 2>&1; then
  ok "INPUT DROP lets the cluster reach the node"
else
  bad "INPUT DROP lets the cluster reach the node"
fi
ip netns exec $H $IPT -S FORWARD | grep -q -- "-P FORWARD DROP" && ok "policy untouched" \
  || bad "policy untouched"

hc revert || bad "revert"
[ "$(our_rules)" = 0 ] && ok "tagged accepts removed" || bad "tagged accepts left: $(our_rules)"
after=$(snapshot)
if [ "$before" = "$after" ]; then
  ok "iptables, ruleset, links, addresses, routes and ip_forward equal the baseline"
else
  bad "state differs from baseline"; diff <(echo "$before") <(echo "$after") | head -30
fi
}

scenario nft
scenario legacy
exit $fail
