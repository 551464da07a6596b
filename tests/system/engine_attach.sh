#!/usr/bin/env bash
# Service overlays and container attach on one node, checked from inside the
# "containers" (sleep processes in namespaces of their own, attached by pid).
#
#   ns N: overlayd, global device zl-..-g (10.200.0.1/16)
#     bridge web (auto, /26)  <- c1 (eth0 + eth1 join_global, dns corp), c2
#     bridge shared (-sh)     <- c3 (service api, shared)
#     bridge iso (isolated)   <- c4, c5 (network n1), c6 (network n2)
#     bridge eph (auto)       <- c7 (ephemeral: bridge goes with the last leaver)
#
# Checks: addresses and routes inside, pings that must pass and must fail,
# overlay DNS from inside a container with the attach's dns_domain, detach
# releasing the address, teardown, and N exactly as before after shutdown.
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"  # grep -q without the pipefail SIGPIPE race
. "$(dirname "$0")/lib/procs.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
tag=at$$
N=ovl${tag}n
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=() cns=()
cleanup() {
  stop_all "${pids[@]}"
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$N"
ip -n "$N" link set lo up
snapshot() {
  ip -n "$N" -j link show | python3 -c 'import json,sys; print(sorted((l["ifname"], l.get("operstate")) for l in json.load(sys.stdin)))'
  ip -n "$N" -j addr show | python3 -c 'import json,sys; print(sorted((l["ifname"], a["local"], a["prefixlen"]) for l in json.load(sys.stdin) for a in l.get("addr_info", [])))'
  ip -n "$N" route show table all | sort
  ip netns exec "$N" nft list ruleset
  ip netns exec "$N" cat /proc/sys/net/ipv4/ip_forward
}
snapshot > "$tmp/before"

ip netns exec "$N" "$BUILD_DIR/overlayd" --data-dir "$tmp/d" --socket "$tmp/ipc.sock" --http off \
  --firewall-table "ovl_$tag" --log-level warn > "$tmp/d.log" 2>&1 &
pids+=($!)
ctl() { "$BUILD_DIR/overlayctl" --socket "$tmp/ipc.sock" --timeout-ms 10000 call "$1"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

. "$(dirname "$0")/lib/container.bash"  # container NAME -> $cpid
in_c() { local c=$1; shift; ip netns exec "$c" "$@"; }

ctl "{\"op\":\"set_local_node_id\",\"node_id\":1}"
ctl "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.0.0/28\",\"wg_port\":51820}"
web=$(field "$(ctl '{"op":"setup_service_overlay","service":"web"}')" name)
[ "$(ctl '{"op":"setup_service_overlay","service":"web","mode":"auto"}')" = "{\"result\":\"service_overlay\",\"name\":\"$web\",\"mode\":\"auto\"}" ]
api=$(field "$(ctl '{"op":"setup_service_overlay","service":"api","mode":"shared"}')" name)
iso=$(field "$(ctl '{"op":"setup_service_overlay","service":"iso","mode":"isolated"}')" name)
eph=$(field "$(ctl '{"op":"setup_service_overlay","service":"eph"}')" name)
case "$api" in *-sh) ;; *) echo "shared bridge name $api"; exit 1 ;; esac
ip -n "$N" -j link show "$web" | grep -q '"ifname"'
expect_err() {  # request, text the err must contain
  local out; out=$(ctl "$1" || true)
  grep -q '"result":"err"' <<<"$out" && grep -qF "$2" <<<"$out" || { echo "expected err '$2', got: $out"; return 1; }
}

for i in 1 2 3 4 5 6 7; do container ${N}$i; eval "p$i=$cpid"; done
ip1=$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p1},\"service\":\"web\",\"join_global\":true,\"dns_server\":\"10.200.0.1\",\"dns_domain\":\"corp\"}")" ip)
ip2=$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p2},\"service\":\"web\"}")" ip)
ip3=$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p3},\"service\":\"api\"}")" ip)
ip4=$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p4},\"service\":\"iso\",\"isolation_network\":\"n1\"}")" ip)
ip5=$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p5},\"service\":\"iso\",\"isolation_network\":\"n1\"}")" ip)
ip6=$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p6},\"service\":\"iso\",\"isolation_network\":\"n2\"}")" ip)
ip7=$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p7},\"service\":\"eph\",\"ephemeral\":true}")" ip)
echo "web=$web api=$api iso=$iso eph=$eph ips: $ip1 $ip2 $ip3 $ip4 $ip5 $ip6 $ip7"

# Inside c1: eth0 on the web subnet with a default route via its gateway, eth1 on the slice.
in_c ${N}1 ip -j addr show eth0 | grep -q "\"local\":\"$ip1\""
in_c ${N}1 ip route show default | grep -q 'via 10.200.'
in_c ${N}1 ip -j addr show eth1 | grep -q '"local":"10.200.0.2"'
ip -n "$N" route show 10.200.0.2 | grep -q "veth-$p1-g"
# Same bridge: pass. Node IP (the global device): pass.
in_c ${N}1 ping -c 2 -W 2 -i 0.2 "$ip2"
in_c ${N}3 ping -c 2 -W 2 -i 0.2 10.200.0.1
# Isolation: n1 members reach each other and the node IP, not n2.
in_c ${N}4 ping -c 2 -W 2 -i 0.2 "$ip5"
in_c ${N}4 ping -c 2 -W 2 -i 0.2 10.200.0.1
if in_c ${N}4 ping -c 2 -W 1 -i 0.2 "$ip6"; then echo "isolation breached: $ip4 reached $ip6"; exit 1; fi

# Overlay DNS from inside c1, under the domain the attach carried.
ctl "{\"op\":\"register_dns\",\"name\":\"db\",\"ip\":\"$ip2\"}"
got=$(in_c ${N}1 dig +short +time=3 +tries=3 @10.200.0.1 db.corp A)
[ "$got" = "$ip2" ] || { echo "dig db.corp from c1: '$got'"; exit 1; }

# allocate_ip for a service draws from its bridge; release returns it.
a=$(field "$(ctl '{"op":"allocate_ip","service":"web"}')" ip)
ctl "{\"op\":\"release_ip\",\"ip\":\"$a\"}"

# Detach c2: its veth is gone, its address is handed out again; idempotent.
ctl "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p2}}"
ctl "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p2}}"
! ip -n "$N" link show "veth-$p2-s" 2>/dev/null
[ "$(field "$(ctl '{"op":"allocate_ip","service":"web"}')" ip)" = "$ip2" ]
# Ephemeral: the last leaver takes the bridge with it.
ctl "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p7}}"
! ip -n "$N" link show "$eph" 2>/dev/null
# Teardown of a service removes its bridge; the shared bridge stays.
ctl '{"op":"teardown_service_overlay","service":"iso"}'
! ip -n "$N" link show "$iso" 2>/dev/null
ctl '{"op":"teardown_service_overlay","service":"api"}'
ip -n "$N" link show "$api" > /dev/null
# Not on Linux / not yet: precise errors, the daemon keeps serving.
expect_err '{"op":"attach_container","handle":{"platform":"windows_container","container_id":"x"},"service":"web"}' 'not supported on Linux'
expect_err "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p1},\"service\":\"nosuch\"}" 'no service bridge for service nosuch'
expect_err '{"op":"attach_container","handle":{"platform":"linux_pid","pid":999999999},"service":"web"}' '/proc/999999999/ns/net'
"$BUILD_DIR/overlayctl" --socket "$tmp/ipc.sock" --json status | grep -q '"service_count":1'  # web is the one left

ctl '{"op":"shutdown"}'
for _ in $(seq 100); do kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.1; done
wait "${pids[0]}"
snapshot > "$tmp/after"
diff -u "$tmp/before" "$tmp/after"
echo "attach: bridges, veths, isolation, DNS inside, detach, teardown, exact revert"
