#!/usr/bin/env bash
# Drift repair: two containers on an isolated service, in networks red and
# blue, cannot reach each other. Then `nft flush ruleset` runs in the node's
# namespace (as `systemctl reload nftables` does). Within 5 s the daemon
# notices (nftables netlink events, a 2 s check as backstop), restores its
# tables, logs it and counts it in /metrics: red still cannot reach blue.
# Deleting one isolation set element, one of our routes or one of our
# addresses (a bridge gateway) is repaired the
# same way; a route the daemon removes itself stays removed.
#
#   namespace N (node; HTTP on its own 127.0.0.1:7420)
#   +-------------------------------------------------------------+
#   |  overlayd --data-dir D        nft tables inet/bridge ovl_<tag> |
#   |  bridge zl-...-b (service web) <- G1 (join_global: host route   |
#   |                                       <ip>/32 dev veth-<pid>-g)  |
#   |  bridge zl-...-b (service iso, isolated)                       |
#   |     |                  |                  |                    |
#   |   veth              veth               veth                    |
#   +-----|------------------|------------------|--------------------+
#     ns R1 (red)        ns R2 (red)        ns B1 (blue)
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=dr$$
N=ovl${tag}n
T=ovl_$tag
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()
cns=()
cleanup() {
  stop_all "${pids[@]}"
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export OVL_HTTP=127.0.0.1:7420
metric() { ip netns exec "$N" curl -s --max-time 5 http://127.0.0.1:7420/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
container() {  # name -> $cpid
  ip netns add "$1"; cns+=("$1")
  ip netns exec "$1" sleep 600 > /dev/null 2>&1 &
  cpid=$!; pids+=("$cpid")
}
blocked() {  # from-ns ip: no ping gets through
  ! ip netns exec "$1" ping -c 2 -W 1 -i 0.2 "$2" > /dev/null 2>&1
}
# Waits up to 5 s for the daemon's table to be back and isolating.
restored_within_5s() {
  local t0=$SECONDS
  for _ in $(seq 50); do
    if ip netns exec "$N" nft list table inet "$T" > /dev/null 2>&1 &&
       ip netns exec "$N" nft list ruleset | grep -qF "$ipb"; then
      echo "restored after $((SECONDS - t0)) s"; return 0
    fi
    sleep 0.1
  done
  return 1
}

ip netns add "$N"
ip -n "$N" link set lo up
dir=$tmp/d
mkdir -m 0700 "$dir"
ovl_start "$N" "$dir" --firewall-table "$T"
pids+=("$ovl_pid")
ovl_ctl "$dir" '{"op":"set_local_node_id","node_id":1}' > /dev/null
ovl_ctl "$dir" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.0.0/28\",\"wg_port\":51820}" > /dev/null
ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"iso","mode":"isolated"}' > /dev/null
ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"web"}' > /dev/null
container ${N}r1; pr1=$cpid
container ${N}r2; pr2=$cpid
container ${N}b1; pb1=$cpid
attach() { field "$(ovl_ctl "$dir" "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$1},\"service\":\"iso\",\"isolation_network\":\"$2\"}")" ip; }
ipr1=$(attach "$pr1" red)
ipr2=$(attach "$pr2" red)
ipb=$(attach "$pb1" blue)
echo "red: $ipr1 $ipr2  blue: $ipb"
ip netns exec ${N}r1 ping -c 2 -W 2 -i 0.2 "$ipr2" > /dev/null
blocked ${N}r1 "$ipb"
[ "$(metric overlayd_drift_repairs_total)" = 0 ]

# --- nft flush ruleset --------------------------------------------------------
ip netns exec "$N" nft flush ruleset
restored_within_5s || { echo "our table was not restored within 5 s"; exit 1; }
blocked ${N}r1 "$ipb" || { echo "isolation open after flush: red reached blue"; exit 1; }
ip netns exec ${N}r1 ping -c 2 -W 2 -i 0.2 "$ipr2" > /dev/null   # red still reaches red
grep -q "host drift: our nft tables were changed by someone else" "$dir.log"
[ "$(metric overlayd_drift_repairs_total)" -ge 1 ]
echo "ok: nft flush ruleset repaired within 5 s; isolation held"

# --- one element of an isolation set deleted --------------------------------------
before=$(metric overlayd_drift_repairs_total)
set_name=$(ip netns exec "$N" nft list sets bridge 2>/dev/null | awk '/set /{s=$2} /elements/ && index($0, ip) {print s; exit}' ip="$ipb")
if [ -z "$set_name" ]; then
  set_name=$(ip netns exec "$N" nft list sets inet | awk '/set /{s=$2} /elements/ && index($0, ip) {print s; exit}' ip="$ipb")
  fam=inet
else
  fam=bridge
fi
[ -n "$set_name" ] || { echo "no set holds $ipb"; ip netns exec "$N" nft list ruleset; exit 1; }
ip netns exec "$N" nft delete element "$fam" "$T" "$set_name" "{ $ipb }"
for _ in $(seq 50); do [ "$(metric overlayd_drift_repairs_total)" -gt "$before" ] && break; sleep 0.1; done
[ "$(metric overlayd_drift_repairs_total)" -gt "$before" ] || { echo "deleted element not repaired"; exit 1; }
ip netns exec "$N" nft list set "$fam" "$T" "$set_name" | grep -qF "$ipb"
blocked ${N}r1 "$ipb"
echo "ok: a deleted set element was put back"

# --- one of our routes deleted (a global-overlay member's host route) ---------
container ${N}g1; pg=$cpid
ipg=$(field "$(ovl_ctl "$dir" "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$pg},\"service\":\"web\",\"join_global\":true}")" ip)
route=$(ip -n "$N" route show dev "veth-$pg-g")
[ -n "$route" ] || { echo "no host route via veth-$pg-g"; exit 1; }
dst=$(awk '{print $1; exit}' <<< "$route")
before=$(metric overlayd_drift_repairs_total)
ip -n "$N" route del "$dst" dev "veth-$pg-g"
back=""
for _ in $(seq 50); do back=$(ip -n "$N" route show dev "veth-$pg-g"); [ -n "$back" ] && break; sleep 0.1; done
[ "$back" = "$route" ] || { echo "route not restored within 5 s: '$back' (was '$route')"; exit 1; }
grep -q "route $dst.* dev veth-$pg-g was removed by someone else; restored it" "$dir.log"
[ "$(metric overlayd_drift_repairs_total)" -gt "$before" ]
echo "ok: a deleted route of ours ($dst dev veth-$pg-g, container $ipg) was put back within 5 s"

# --- one of our addresses deleted (a service bridge's gateway) -----------------
web=$(ip -n "$N" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -- '^zl-.*-b$' | head -n 1)
gw=$(ip -n "$N" -o -4 addr show dev "$web" | awk '{ print $4; exit }')
[ -n "$gw" ] || { echo "no gateway address on $web"; exit 1; }
before=$(metric overlayd_drift_repairs_total)
ip -n "$N" addr del "$gw" dev "$web"
back=""
for _ in $(seq 50); do back=$(ip -n "$N" -o -4 addr show dev "$web" | awk '{ print $4; exit }'); [ -n "$back" ] && break; sleep 0.1; done
[ "$back" = "$gw" ] || { echo "address not restored within 5 s: '$back' (was '$gw')"; exit 1; }
grep -q "address $gw on $web was removed by someone else; restored it" "$dir.log"
[ "$(metric overlayd_drift_repairs_total)" -gt "$before" ]
echo "ok: a deleted address of ours ($gw on $web) was put back within 5 s"

# What the daemon removes itself stays removed.
ovl_ctl "$dir" "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$pg}}" > /dev/null
sleep 2.5
[ -z "$(ip -n "$N" route show "$dst")" ] || { echo "a route removed by the daemon came back"; exit 1; }

ovl_ctl "$dir" '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "$ovl_pid"
if ip netns exec "$N" nft list table inet "$T" 2> /dev/null; then echo "table left after shutdown"; exit 1; fi
echo "drift: flushed and edited nft state, a deleted route and a deleted address restored within 5 s, isolation never left open"
