#!/usr/bin/env bash
# Two overlayd nodes bring up the global overlay and reach each other over it.
#
#   ns A                                            ns B
#   overlayd (zl-<dep>-1-g, 10.200.1.1/16)          overlayd (zl-<dep>-2-g, 10.200.2.1/16)
#      |  our WireGuard, UDP 51820                     |  our WireGuard, UDP 51820
#   ua0 10.99.0.1/24 ------------- veth ------------ ub0 10.99.0.2/24
#
# The test plays the agent: setup_global_overlay on each, add_peer each way,
# then pings node IP to node IP through the overlay, checks `wg show` on our
# device, resolves a name registered on A from B via A's overlay DNS, and shuts both down: each namespace's links, addresses, routes and
# nft ruleset must be exactly as before.
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"  # grep -q without the pipefail SIGPIPE race
. "$(dirname "$0")/lib/procs.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=eg$$
A=ovl${tag}a B=ovl${tag}b
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()

cleanup() {
  stop_all "${pids[@]}"
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add ua0 netns "$A" type veth peer name ub0 netns "$B"
ip -n "$A" addr add 10.99.0.1/24 dev ua0
ip -n "$B" addr add 10.99.0.2/24 dev ub0
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
# No IPv6 link-local on the underlay: the kernel would add it asynchronously
# and make the before/after pictures race.
ip -n "$A" link set ua0 addrgenmode none
ip -n "$B" link set ub0 addrgenmode none
ip -n "$A" link set ua0 up
ip -n "$B" link set ub0 up

# Let both ends report carrier before taking the "before" picture (bounded).
for _ in $(seq 50); do
  ip -n "$A" link show ua0 | grep -q 'state UP' && ip -n "$B" link show ub0 | grep -q 'state UP' && break
  sleep 0.1
done

snapshot() {  # ns -> a textual picture of what the daemon may touch
  ip -n "$1" -j link show | python3 -c 'import json,sys; print(sorted((l["ifname"], l.get("operstate")) for l in json.load(sys.stdin)))'
  ip -n "$1" -j addr show | python3 -c 'import json,sys; print(sorted((l["ifname"], a["local"], a["prefixlen"]) for l in json.load(sys.stdin) for a in l.get("addr_info", [])))'
  ip -n "$1" route show table all | sort
  ip netns exec "$1" nft list ruleset
  ip netns exec "$1" cat /proc/sys/net/ipv4/ip_forward
}
snapshot "$A" > "$tmp/a.before"
snapshot "$B" > "$tmp/b.before"

start() {  # ns name
  mkdir -p "$tmp/$2"
  ip netns exec "$1" "$D" --data-dir "$tmp/$2" --socket "$tmp/$2/ipc.sock" --http off \
     --firewall-table "ovl_$tag" --log-level warn > "$tmp/$2.log" 2>&1 &
  pids+=($!)
}
start "$A" a
start "$B" b
ctl() { "$C" --socket "$tmp/$1/ipc.sock" --timeout-ms 10000 call "$2"; }

ra=$(ctl a "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}")
rb=$(ctl b "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"2\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.2.0/28\",\"wg_port\":51820}")
echo "A: $ra"; echo "B: $rb"
ifa=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["name"])' "$ra")
ifb=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["name"])' "$rb")
# Idempotent: a second setup answers the same name.
[ "$(ctl a "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}")" = "$ra" ]

key() { "$C" --socket "$tmp/$1/ipc.sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])'; }
ka=$(key a); kb=$(key b)
ctl a "{\"op\":\"add_peer\",\"public_key\":\"$kb\",\"endpoint\":\"10.99.0.2:51820\",\"allowed_ips\":\"10.200.2.0/28\",\"persistent_keepalive_secs\":25}"
ctl b "{\"op\":\"add_peer\",\"public_key\":\"$ka\",\"endpoint\":\"10.99.0.1:51820\",\"allowed_ips\":\"10.200.1.0/28\",\"persistent_keepalive_secs\":25}"

# The device exists with the node IP, checked with iproute2.
ip -n "$A" -j addr show dev "$ifa" | grep -q '"local":"10.200.1.1"'
ip -n "$B" -j addr show dev "$ifb" | grep -q '"local":"10.200.2.1"'

ip netns exec "$A" ping -c 3 -W 2 -i 0.2 10.200.2.1
ip netns exec "$B" ping -c 3 -W 2 -i 0.2 10.200.1.1

# wg (wireguard-tools) reads our device over UAPI: a handshake and traffic.
ip netns exec "$A" wg show "$ifa" dump > "$tmp/wg.a"
cat "$tmp/wg.a"
awk -v k="$kb" '$1 == k && $5 > 0 && $6 > 0 && $7 > 0 { ok = 1 } END { exit !ok }' "$tmp/wg.a"

# status reports the peer with a recent handshake time (absolute Unix time).
"$C" --socket "$tmp/a/ipc.sock" --json status > "$tmp/status.a"
cat "$tmp/status.a"
python3 - "$tmp/status.a" "$kb" <<'PY'
import json, sys, time
s = json.load(open(sys.argv[1]))
assert s["peer_count"] == 1, s
p = s["peers"][0]
assert p["public_key"] == sys.argv[2], p
assert p["endpoint"] == "10.99.0.2:51820", p
assert p["allowed_ips"] == "10.200.2.0/28", p
assert abs(time.time() - p["last_handshake_unix_secs"]) < 120, p
assert s["overlay_cidr"] == "10.200.0.0/16" and s["slice_cidr"] == "10.200.1.0/28", s
PY

# Overlay DNS answers on A's node IP once its global overlay is up: a name
# registered on A resolves from B across the overlay, relative and absolute.
ctl a '{"op":"register_dns","name":"web","ip":"10.200.1.9"}'
ctl a '{"op":"register_dns","name":"db.overlay.","ip":"fd00::9"}'
got=$(ip netns exec "$B" dig +short +time=3 +tries=3 @10.200.1.1 web.overlay A)
[ "$got" = 10.200.1.9 ] || { echo "dig web.overlay: '$got'"; exit 1; }
got=$(ip netns exec "$B" dig +short +time=3 +tries=3 +tcp @10.200.1.1 db.overlay AAAA)
[ "$got" = fd00::9 ] || { echo "dig +tcp db.overlay AAAA: '$got'"; exit 1; }
ctl a '{"op":"unregister_dns","name":"web"}'
ip netns exec "$B" dig +time=3 +tries=3 @10.200.1.1 web.overlay A | grep -q 'status: NXDOMAIN'

# allocate_ip now draws from the slice; the node IP is never handed out.
[ "$(ctl a '{"op":"allocate_ip","service":"web"}')" = '{"result":"ip","ip":"10.200.1.2"}' ]

# Shutdown reverts everything; the daemons exit 0.
ctl a '{"op":"shutdown"}'
ctl b '{"op":"shutdown"}'
for p in "${pids[@]}"; do
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  wait "$p"
done
pids=()
snapshot "$A" > "$tmp/a.after"
snapshot "$B" > "$tmp/b.after"
diff -u "$tmp/a.before" "$tmp/a.after"
diff -u "$tmp/b.before" "$tmp/b.after"
[ ! -e "/var/run/wireguard/$ifa.sock" ]
echo "two nodes talked over the global overlay; hosts are as before"
