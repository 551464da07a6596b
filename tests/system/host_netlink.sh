#!/usr/bin/env bash
# Every net/netlink operation through overlay-hostctl, each checked with an
# independent tool (ip -j, bridge -j, jq), in namespaces made here.
#
#   N (main test ns)                           C (container ns)
#   zl-t-b (bridge, 10.77.0.1/24, fd77::1/64)
#     +-- veth-1-t ======================== eth0 (moved + renamed, configured
#                                              from inside: 10.77.0.2/24,
#                                              default via 10.77.0.1)
#   500 veth pairs (1000+ links) for the multi-part dump
set -u
[ "$(id -u)" = 0 ] || exit 77
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HC="$BUILD_DIR/net/host/overlay-hostctl"
[ -x "$HC" ] || { echo "missing $HC"; exit 1; }
command -v jq >/dev/null || { echo "jq missing"; exit 1; }

N=hn$$n C=hn$$c
fail=0
cleanup() {
  ip netns del $N 2>/dev/null
  ip netns del $C 2>/dev/null
  rm -f /tmp/hn$$.batch
}
trap cleanup EXIT

hc() { ip netns exec $N "$HC" "$@"; }
ipj() { ip -n $N -j "$@"; }
expect() {  # description, actual, expected
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: got '$2', want '$3'"; fail=1; fi
}
rc() { "$@" >/dev/null 2>&1; echo $?; }

ip netns add $N && ip netns add $C || exit 1
ip netns exec $N sysctl -qw net.ipv6.conf.default.accept_dad=0

# --- links ------------------------------------------------------------------
hc bridge zl-t-b
expect "bridge created" "$(ipj -d link show zl-t-b | jq -r '.[0].linkinfo.info_kind')" bridge
expect "bridge STP off" "$(ipj -d link show zl-t-b | jq -r '.[0].linkinfo.info_data.stp_state')" 0
expect "existing bridge is success" "$(rc hc bridge zl-t-b)" 0
hc veth zl-notbr vzz
expect "existing non-bridge is refused" "$(rc hc bridge zl-notbr)" 1
expect "lookup reports kind" "$(hc link-get zl-t-b | grep -o 'kind=[a-z]*')" kind=bridge
expect "lookup of a missing link fails" "$(rc hc link-get nope0)" 1

hc veth veth-1-t vc-1-t
expect "veth pair created" "$(ipj -d link show vc-1-t | jq -r '.[0].linkinfo.info_kind')" veth
hc link-mtu veth-1-t 1380
expect "mtu set" "$(ipj link show veth-1-t | jq -r '.[0].mtu')" 1380
expect "bad mtu refused" "$(rc hc link-mtu veth-1-t 20)" 1
hc master veth-1-t zl-t-b
expect "enslaved to bridge" "$(ipj link show veth-1-t | jq -r '.[0].master')" zl-t-b
expect "bridge -j link sees the port" \
  "$(bridge -n $N -j link | jq -r '.[] | select(.ifname=="veth-1-t") | .master')" zl-t-b
expect "member count 1" "$(hc members zl-t-b)" 1
hc link-up zl-t-b && hc link-up veth-1-t
expect "link up" "$(ipj link show zl-t-b | jq -r '.[0].flags | index("UP") != null')" true
hc link-down zl-notbr
expect "link down" "$(ipj link show zl-notbr | jq -r '.[0].flags | index("UP") == null')" true
hc link-del zl-notbr
expect "deleted" "$(rc ip -n $N link show zl-notbr)" 1
expect "deleting a missing link is success" "$(rc hc link-del zl-notbr)" 0

# --- addresses --------------------------------------------------------------
hc addr-add zl-t-b 10.77.0.1/24 && hc addr-add zl-t-b fd77::1/64
expect "addr add is idempotent" "$(rc hc addr-add zl-t-b 10.77.0.1/24)" 0
expect "v4 address present" \
  "$(ipj addr show zl-t-b | jq -r '[.[0].addr_info[] | select(.family=="inet") | "\(.local)/\(.prefixlen)"] | join(",")')" \
  10.77.0.1/24
expect "v6 address present" \
  "$(ipj addr show zl-t-b | jq -r '[.[0].addr_info[] | select(.local=="fd77::1") | .prefixlen] | join(",")')" 64
hc alias-add zl-t-b 10.77.9.9
expect "alias /32 present" \
  "$(ipj addr show zl-t-b | jq -r '[.[0].addr_info[] | select(.local=="10.77.9.9") | .prefixlen] | join(",")')" 32
hc alias-del zl-t-b 10.77.9.9
expect "alias removed" \
  "$(ipj addr show zl-t-b | jq -r '[.[0].addr_info[] | select(.local=="10.77.9.9")] | length')" 0
expect "removing a missing alias is success" "$(rc hc alias-del zl-t-b 10.77.9.9)" 0
expect "addr-list agrees with ip" "$(hc addr-list zl-t-b | grep -c -E '^(10.77.0.1/24|fd77::1/64)$')" 2

# --- routes -----------------------------------------------------------------
hc route-replace 10.77.5.5/32 zl-t-b 10.77.0.1
expect "/32 via dev with src" \
  "$(ipj route show 10.77.5.5 | jq -r '.[0] | "\(.dev) \(.prefsrc) \(.scope)"')" "zl-t-b 10.77.0.1 link"
hc route-replace 10.77.5.5/32 zl-t-b
expect "replace keeps one route" "$(ipj route show 10.77.5.5 | jq length)" 1
hc route-replace fd77::5/128 zl-t-b fd77::1
expect "/128 via dev" "$(ip -n $N -6 -j route show fd77::5 | jq -r '.[0].dev')" zl-t-b
expect "family mismatch rejected" "$(rc hc route-replace 10.77.5.6/32 zl-t-b fd77::1)" 1
hc route-del 10.77.5.5/32 zl-t-b && hc route-del fd77::5/128 zl-t-b
expect "routes deleted" "$(ipj route show 10.77.5.5 | jq length)" 0
expect "deleting a missing route is success" "$(rc hc route-del 10.77.5.5/32 zl-t-b)" 0

# --- move into a namespace, configure from inside ---------------------------
hc move vc-1-t $C eth0
expect "moved and renamed in one step" "$(ip -n $C -j link show eth0 | jq -r '.[0].ifname')" eth0
expect "gone from the source namespace" "$(rc ip -n $N link show vc-1-t)" 1
hc in-netns $C link-up lo
hc in-netns $C addr-add eth0 10.77.0.2/24
hc in-netns $C link-up eth0
hc in-netns $C route-default 10.77.0.1
expect "default route inside" "$(ip -n $C -j route show default | jq -r '.[0].gateway')" 10.77.0.1
expect "caller's namespace unchanged (no eth0 here)" "$(rc hc link-get eth0)" 1
ok_ping=1
for i in $(seq 1 20); do ip netns exec $C ping -c1 -W1 -q 10.77.0.1 >/dev/null 2>&1 && { ok_ping=0; break; }; sleep 0.2; done
expect "container pings the bridge gateway" $ok_ping 0
hc addr-flush zl-t-b
expect "flush removed every address" "$(ipj addr show zl-t-b | jq '.[0].addr_info | length')" 0

# --- 1000+ links: multi-part dump --------------------------------------------
for i in $(seq 1 500); do echo "link add bv$i type veth peer name bp$i"; done > /tmp/hn$$.batch
ip -n $N -batch /tmp/hn$$.batch
want=$(ipj link | jq length)
expect "dump lists all $want links" "$(hc link-count)" "$want"
[ "$want" -gt 1000 ] && echo "ok   more than 1000 links ($want)" || { echo "FAIL only $want links"; fail=1; }
exit $fail
