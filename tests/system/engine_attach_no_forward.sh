#!/usr/bin/env bash
# An attach on a host where ip_forward cannot be written warns and goes on
# (as the seed does): the host may forward already, or forbid it on purpose.
#
#   ns N: overlayd in a mount namespace of its own, where
#         /proc/sys/net/ipv4/ip_forward is bind-mounted read-only
#     bridge web (auto)  <- c1 (eth0)
#
# Checks: the attach answers the container's IP, eth0 carries it inside the
# container, the daemon logged the failed write, ip_forward is unchanged,
# and N is as before after shutdown.
tag=nf$$
. "$(dirname "$0")/lib/one_node.bash"
[ "$(ip netns exec "$N" cat /proc/sys/net/ipv4/ip_forward)" = 0 ]
snapshot() {
  ip -n "$N" -j link show | python3 -c 'import json,sys; print(sorted((l["ifname"], l.get("operstate")) for l in json.load(sys.stdin)))'
  ip -n "$N" route show table all | sort
  ip netns exec "$N" nft list ruleset
}
snapshot > "$tmp/before"

# The read-only bind mount lives in the daemon's own mount namespace only.
ip netns exec "$N" unshare -m --propagation private sh -c '
  mount --bind /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_forward &&
  mount -o remount,bind,ro /proc/sys/net/ipv4/ip_forward &&
  exec "$0" --data-dir "$1/d" --socket "$1/ipc.sock" --http off --firewall-table "ovl_$2" --log-level warn' \
  "$BUILD_DIR/overlayd" "$tmp" "$tag" > "$tmp/d.log" 2>&1 &
pids+=($!)

ctl '{"op":"setup_global_overlay","deployment":"'$tag'","instance_id":"1","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.1.0/24","wg_port":51820}' > /dev/null
ctl '{"op":"setup_service_overlay","service":"web"}' > /dev/null
container "ovl${tag}c1"
r=$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$cpid},\"service\":\"web\"}")
ip=$(field "$r" ip)
echo "attached $ip"
ip -n "ovl${tag}c1" -o addr show dev eth0 | grep -q " $ip/26 "
grep -q "enabling IPv4 forwarding failed" "$tmp/d.log" || { echo "no warning logged"; cat "$tmp/d.log"; exit 1; }
[ "$(ip netns exec "$N" cat /proc/sys/net/ipv4/ip_forward)" = 0 ]

ctl '{"op":"shutdown"}' > /dev/null
stop_all "${pids[@]}"; pids=()
for c in "${cns[@]}"; do ip netns del "$c"; done; cns=()
snapshot > "$tmp/after"
diff -u "$tmp/before" "$tmp/after"
echo "attach without a writable ip_forward: warned, attached, host as before"
