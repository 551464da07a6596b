# Sourced by the NAT system tests and bench/relay.sh: two sites, each behind
# its own NAT router, and a "public" namespace between the routers.
#
#  site A ($SA)          router A ($RA)           public ($PB)           router B ($RB)          site B ($SB)
#  $1.1.2 -lan- $1.1.1 nft masq wan -- 198.18.1.1 wa     wb 198.18.2.1 -- wan masq $1.2.1 -lan- $1.2.2
#                        198.18.1.2               lo 198.18.0.1/32         198.18.2.2
#
# The caller names the namespaces (SA SB RA RB PB, unique per run) and
# deletes them on exit; $1 is the sites' /16 prefix ("10.63").
nat_topology() {
  local lan=$1 ns pair
  for ns in "$SA" "$SB" "$RA" "$RB" "$PB"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip link add lan netns "$SA" type veth peer name lan netns "$RA"
  ip link add lan netns "$SB" type veth peer name lan netns "$RB"
  ip link add wan netns "$RA" type veth peer name wa netns "$PB"
  ip link add wan netns "$RB" type veth peer name wb netns "$PB"
  ip -n "$SA" addr add "$lan.1.2/24" dev lan; ip -n "$RA" addr add "$lan.1.1/24" dev lan
  ip -n "$SB" addr add "$lan.2.2/24" dev lan; ip -n "$RB" addr add "$lan.2.1/24" dev lan
  ip -n "$RA" addr add 198.18.1.2/24 dev wan; ip -n "$PB" addr add 198.18.1.1/24 dev wa
  ip -n "$RB" addr add 198.18.2.2/24 dev wan; ip -n "$PB" addr add 198.18.2.1/24 dev wb
  ip -n "$PB" addr add 198.18.0.1/32 dev lo
  for pair in "$SA lan" "$SB lan" "$RA lan" "$RA wan" "$RB lan" "$RB wan" "$PB wa" "$PB wb"; do
    set -- $pair; ip -n "$1" link set "$2" addrgenmode none; ip -n "$1" link set "$2" up
  done
  ip -n "$SA" route add default via "$lan.1.1"
  ip -n "$SB" route add default via "$lan.2.1"
  ip -n "$RA" route add default via 198.18.1.1
  ip -n "$RB" route add default via 198.18.2.1
  for ns in "$RA" "$RB" "$PB"; do ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1; done
}

# nat_masquerade OPTIONS: both routers masquerade out of "wan" with OPTIONS
# ("" = port-preserving, "random,fully-random" = randomising); their
# conntrack is flushed (when conntrack is installed), as a restarted NAT
# would have it, so no mapping of the old mode survives.
nat_masquerade() {
  local r
  for r in "$RA" "$RB"; do
    ip netns exec "$r" nft delete table ip ovlnat 2>/dev/null || true
    ip netns exec "$r" nft -f - <<NFT
table ip ovlnat {
  chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade $1; }
}
NFT
    if command -v conntrack >/dev/null; then ip netns exec "$r" conntrack -F 2>/dev/null || true; fi
  done
}
