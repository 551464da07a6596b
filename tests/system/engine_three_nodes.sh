#!/usr/bin/env bash
# Three overlayd nodes, the test playing the agent.
#
#                          ns U: bridge br0 (the underlay)
#            +-------------------+-------------------+
#   ua 10.97.0.1/24     ub 10.97.0.2/24      uc 10.97.0.3/24
#   ns A: overlayd           ns B: overlayd        ns C: overlayd
#   global zl-..-1-g         global zl-..-2-g      global zl-..-3-g
#     10.200.101.1/16          10.200.102.1/16       10.200.103.1/16
#   web  (auto)     w1       web  (auto)    w2     web  (auto)    w3
#   api  (shared)   s1       api  (shared)  s2     api  (shared)
#   db   (dedicated) d1      db   (dedicated)      db   (dedicated) d3
#   iso  (isolated) i0; i1,i2 n1; i3 n2
#   guest vm-1 (web)         host-shared h1
#   ns G: wireguard-go with vm-1's config, ug 10.97.0.10/24 on br0
#
# "Containers" (w1 ...) are sleep processes in namespaces of their own,
# attached by pid. The agent's part: setup_global_overlay on each node, a full
# mesh of global peers over the underlay, the four service modes on each node,
# the remote service subnets added to each global peer (add_allowed_ip), and a
# full mesh of service-scoped peers between the dedicated `db` devices. B and
# C first take pad services (B 4, C 8), torn down again later: a node's other
# services never move where its real ones land (the cluster-wide rule).
#
# Checks: containers reach each other across nodes on the web and api subnets
# and on the global overlay (node IPs, join_global addresses); db traffic goes
# over the dedicated devices (wg show transfer counters grow on them);
# isolation holds (non-members, local or remote, cannot reach an n1 member);
# a guest config is produced, its key is on A's device and a guest running
# it (wireguard-go) reaches A and, through A, B; a host-shared
# address on B answers from C. Then shutdown on every node, and each node's
# namespace is exactly as before (links, addresses, routes, nft ruleset,
# forwarding/rp_filter sysctls).
set -eEuo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"  # grep -q without the pipefail SIGPIPE race
# (grep reads its whole input below: with pipefail, an early `grep -q` exit
# could fail the pipeline on the writer's SIGPIPE.)
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=e3$$
U=ovl${tag}u
declare -A NS=([1]=ovl${tag}a [2]=ovl${tag}b [3]=ovl${tag}c)
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=() cns=()
declare -A dpid
G=ovl${tag}g GW=g$tag gwpid=  # the guest: wireguard-go with the guest config

devs=()  # our WireGuard devices, as soon as they are known
cleanup() {
  if [ -n "$gwpid" ]; then kill "$gwpid" 2>/dev/null || true; wait "$gwpid" 2>/dev/null || true; fi
  rm -f "/var/run/wireguard/$GW.sock"
  # Daemons still running (a failure): SIGTERM reverts like a shutdown; bounded.
  for p in "${dpid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${dpid[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  for p in "${pids[@]}" "${dpid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for d in "${devs[@]}"; do rm -f "/var/run/wireguard/$d.sock"; done
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  for n in "${NS[@]}" "$G" "$U"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the underlay ------------------------------------------------------------
ip netns add "$U"
ip -n "$U" link add br0 type bridge
ip -n "$U" link set br0 up
for i in 1 2 3; do
  n=${NS[$i]}
  ip netns add "$n"
  ip link add u$i netns "$n" type veth peer name p$i netns "$U"
  ip -n "$U" link set p$i master br0
  ip -n "$U" link set p$i up
  ip -n "$n" link set lo up
  # No IPv6 link-local on the underlay: it would race the before/after pictures.
  ip -n "$n" link set u$i addrgenmode none
  ip -n "$n" addr add 10.97.0.$i/24 dev u$i
  ip -n "$n" link set u$i up
done
for _ in $(seq 50); do
  up=0
  for i in 1 2 3; do ip -n "${NS[$i]}" link show u$i | grep 'state UP' > /dev/null && up=$((up + 1)); done
  [ $up = 3 ] && break
  sleep 0.1
done

snapshot() {  # ns -> a textual picture of what the daemon may touch
  ip -n "$1" -j link show | python3 -c 'import json,sys; print(sorted((l["ifname"], l.get("operstate")) for l in json.load(sys.stdin)))'
  ip -n "$1" -j addr show | python3 -c 'import json,sys; print(sorted((l["ifname"], a["local"], a["prefixlen"]) for l in json.load(sys.stdin) for a in l.get("addr_info", [])))'
  ip -n "$1" route show table all | sort
  ip -n "$1" -6 route show table all | sort
  ip netns exec "$1" nft list ruleset
  ip netns exec "$1" sysctl -a 2>/dev/null | grep -E '^net\.ipv4\.ip_forward |^net\.ipv[46]\.conf\.[^.]+\.(forwarding|force_forwarding|rp_filter) ' | sort
}
for i in 1 2 3; do snapshot "${NS[$i]}" > "$tmp/$i.before"; done

# ---- the daemons -------------------------------------------------------------
start() {  # node
  mkdir -p "$tmp/$1"
  ip netns exec "${NS[$1]}" "$D" --data-dir "$tmp/$1" --socket "$tmp/$1/ipc.sock" --http off \
     --firewall-table "ovl_$tag" --log-level warn >> "$tmp/$1.log" 2>&1 &
  dpid[$1]=$!
  for _ in $(seq 100); do [ -S "$tmp/$1/ipc.sock" ] && break; sleep 0.1; done
}
ctl() { "$C" --socket "$tmp/$1/ipc.sock" --timeout-ms 10000 call "$2"; }
st() { "$C" --socket "$tmp/$1/ipc.sock" --json status; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# The network of a bridge's gateway address, e.g. 10.200.1.0/26.
subnet_of() {  # node, bridge
  ip -n "${NS[$1]}" -j addr show dev "$2" | python3 -c '
import ipaddress, json, sys
[a] = [a for l in json.load(sys.stdin) for a in l["addr_info"] if a["family"] == "inet"]
print(ipaddress.ip_interface(a["local"] + "/" + str(a["prefixlen"])).network)'
}
. "$(dirname "$0")/lib/container.bash"  # container NAME -> $cpid
attach() {  # node, pid, service, extra json -> the attached ip
  field "$(ctl "$1" "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$2},\"service\":\"$3\"${4:-}}")" ip
}
# Reachable: a reply within three tries of 2 s (the first packets to a peer
# wait for the WireGuard handshake, which a loaded CI host can slow).
pass() {
  local try
  for try in 1 2 3; do ip netns exec "$1" ping -c 1 -W 2 "${@:2}" > /dev/null && return 0; done
  echo "ping $* from $1 failed"
  return 1
}
blocked() {
  if ip netns exec "$1" ping -c 1 -W 1 "${@:2}" > /dev/null 2>&1; then echo "isolation breached: $1 reached ${*:2}"; return 1; fi
}

for i in 1 2 3; do start $i; done
declare -A key
for i in 1 2 3; do
  ctl $i "{\"op\":\"set_local_node_id\",\"node_id\":$i}"
  devs+=("$(field "$(ctl $i "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"$i\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.10$i.0/26\",\"wg_port\":51820}")" name)")
  key[$i]=$(field "$(st $i)" public_key)
done
# Full mesh of global peers over the underlay.
for i in 1 2 3; do
  for j in 1 2 3; do
    [ $i = $j ] && continue
    ctl $i "{\"op\":\"add_peer\",\"public_key\":\"${key[$j]}\",\"endpoint\":\"10.97.0.$j:51820\",\"allowed_ips\":\"10.200.10$j.0/26\",\"persistent_keepalive_secs\":25}"
  done
done
pass "${NS[1]}" 10.200.102.1
pass "${NS[1]}" 10.200.103.1
pass "${NS[2]}" 10.200.103.1

# ---- services in the four modes ----------------------------------------------
pads=([1]=0 [2]=4 [3]=8)
declare -A web api iso dbkey dbport
for i in 1 2 3; do
  for p in $(seq "${pads[$i]}"); do ctl $i "{\"op\":\"setup_service_overlay\",\"service\":\"pad$p\"}" > /dev/null; done
  web[$i]=$(field "$(ctl $i '{"op":"setup_service_overlay","service":"web","mode":"auto"}')" name)
  api[$i]=$(field "$(ctl $i '{"op":"setup_service_overlay","service":"api","mode":"shared"}')" name)
  db=$(ctl $i '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')
  iso[$i]=$(field "$(ctl $i '{"op":"setup_service_overlay","service":"iso","mode":"isolated"}')" name)
  dbkey[$i]=$(field "$db" wg_public_key); dbport[$i]=$(field "$db" wg_port)
  devs+=("$(st $i | python3 -c 'import json,sys; print(json.load(sys.stdin)["dedicated_services"][0]["interface"])')")
  echo "$db" > "$tmp/db.$i"
done
declare -A webnet apinet isonet dbnet
for i in 1 2 3; do
  webnet[$i]=$(subnet_of $i "${web[$i]}"); apinet[$i]=$(subnet_of $i "${api[$i]}")
  isonet[$i]=$(subnet_of $i "${iso[$i]}"); dbnet[$i]=$(field "$(cat "$tmp/db.$i")" subnet)
  echo "node $i: web ${webnet[$i]} api ${apinet[$i]} db ${dbnet[$i]} (port ${dbport[$i]}) iso ${isonet[$i]}"
done
# The pads go: their registry slots are free again, and their bridges would
# shadow the other nodes' subnets they took. The real services keep theirs.
for i in 2 3; do
  for p in $(seq "${pads[$i]}"); do ctl $i "{\"op\":\"teardown_service_overlay\",\"service\":\"pad$p\"}" > /dev/null; done
  [ -z "$(ip -n "${NS[$i]}" route show 10.200.0.0/26)" ]
done
# No subnet is used twice across the cluster.
all="${webnet[*]} ${apinet[*]} ${isonet[*]} ${dbnet[*]}"
[ "$(tr ' ' '\n' <<<"$all" | sort -u | wc -l)" = 12 ] || { echo "subnets collide: $all"; exit 1; }
case "${api[1]}" in *-sh) ;; *) echo "shared bridge name ${api[1]}"; exit 1 ;; esac

# The agent routes each node's service subnets to it over the global overlay
# and meshes the dedicated db devices with service-scoped peers.
for i in 1 2 3; do
  for j in 1 2 3; do
    [ $i = $j ] && continue
    for net in "${webnet[$j]}" "${apinet[$j]}" "${isonet[$j]}"; do
      ctl $i "{\"op\":\"add_allowed_ip\",\"pubkey\":\"${key[$j]}\",\"cidr\":\"$net\"}" > /dev/null
    done
    ctl $i "{\"op\":\"add_peer\",\"public_key\":\"${dbkey[$j]}\",\"endpoint\":\"10.97.0.$j:${dbport[$j]}\",\"allowed_ips\":\"${dbnet[$j]}\",\"persistent_keepalive_secs\":0,\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
  done
done
gdev() { field "$(st "$1")" interface; }
ddev() { st "$1" | python3 -c 'import json,sys; [d] = [d for d in json.load(sys.stdin)["dedicated_services"] if d["service"] == "db"]; print(d["interface"])'; }
ip netns exec "${NS[1]}" wg show "$(gdev 1)" allowed-ips | grep -F "${key[2]}" | grep "${webnet[2]}" > /dev/null

# ---- containers ------------------------------------------------------------------
for n in w1 w2 w3 s1 s2 d1 d3 i0 i1 i2 i3; do container ovl${tag}$n; eval "p_$n=$cpid"; done
cn() { echo "ovl${tag}$1"; }
ip_w1=$(attach 1 "$p_w1" web ',"join_global":true')
ip_w2=$(attach 2 "$p_w2" web)
ip_w3=$(attach 3 "$p_w3" web ',"join_global":true')
ip_s1=$(attach 1 "$p_s1" api); ip_s2=$(attach 2 "$p_s2" api)
ip_d1=$(attach 1 "$p_d1" db); ip_d3=$(attach 3 "$p_d3" db)
ip_i0=$(attach 1 "$p_i0" iso)
ip_i1=$(attach 1 "$p_i1" iso ',"isolation_network":"n1"')
ip_i2=$(attach 1 "$p_i2" iso ',"isolation_network":"n1"')
ip_i3=$(attach 1 "$p_i3" iso ',"isolation_network":"n2"')
g_w1=$(ip netns exec "$(cn w1)" ip -j addr show eth1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addr_info"][0]["local"])')
g_w3=$(ip netns exec "$(cn w3)" ip -j addr show eth1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addr_info"][0]["local"])')
echo "web: $ip_w1 $ip_w2 $ip_w3 (global $g_w1 $g_w3) api: $ip_s1 $ip_s2 db: $ip_d1 $ip_d3 iso: $ip_i1 $ip_i2 $ip_i3"
python3 - "$ip_w1:${webnet[1]}" "$ip_w2:${webnet[2]}" "$ip_w3:${webnet[3]}" "$ip_s1:${apinet[1]}" "$ip_s2:${apinet[2]}" \
  "$ip_d1:${dbnet[1]}" "$ip_d3:${dbnet[3]}" "$ip_i1:${isonet[1]}" "$g_w1:10.200.101.0/26" "$g_w3:10.200.103.0/26" <<'PY'
import ipaddress, sys
for a in sys.argv[1:]:
    ip, net = a.split(":")
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(net), a
PY

# Across nodes on service subnets (auto and shared modes).
pass "$(cn w1)" "$ip_w2"
pass "$(cn w1)" "$ip_w3"
pass "$(cn w2)" "$ip_w3"
pass "$(cn s1)" "$ip_s2"
pass "$(cn s2)" "$ip_s1"
# On the global overlay: node IPs and join_global addresses, either way.
pass "$(cn w1)" 10.200.102.1
pass "$(cn w2)" 10.200.103.1
pass "$(cn w1)" -I "$g_w1" "$g_w3"
pass "$(cn w3)" -I "$g_w3" "$g_w1"

# Dedicated: db traffic goes over the dedicated devices.
counters() {  # node, dedicated device, peer key -> "rx tx"
  ip netns exec "${NS[$1]}" wg show "$2" dump | awk -v k="$3" '$1 == k { print $6, $7 }'
}
dd1=$(ddev 1); dd3=$(ddev 3)
case "$dd1" in zl-*-d) ;; *) echo "dedicated device name $dd1"; exit 1 ;; esac
read -r rx0 tx0 <<<"$(counters 1 "$dd1" "${dbkey[3]}")"
pass "$(cn d1)" "$ip_d3"
pass "$(cn d3)" "$ip_d1"
read -r rx1 tx1 <<<"$(counters 1 "$dd1" "${dbkey[3]}")"
echo "A's $dd1, peer C: rx $rx0 -> $rx1, tx $tx0 -> $tx1"
[ "$rx1" -gt "$rx0" ] && [ "$tx1" -gt "$tx0" ]
ip netns exec "${NS[1]}" wg show "$dd1" dump | head -1 | awk -v p="${dbport[1]}" '{ exit !($3 == p) }'
ip -n "${NS[1]}" route show "${dbnet[3]}" | grep "dev $dd1" > /dev/null
# The dedicated subnet is not on the global device.
if ip netns exec "${NS[1]}" wg show "$(gdev 1)" allowed-ips | grep "${dbnet[3]}" > /dev/null; then
  echo "db subnet on the global device"; exit 1
fi

# Isolation: n1 members reach each other and their node; non-members, on the
# same bridge, on another bridge of the node or on another node, cannot.
pass "$(cn i1)" "$ip_i2"
pass "$(cn i1)" 10.200.101.1
pass "$(cn i3)" 10.200.101.1
blocked "$(cn i3)" "$ip_i1"
blocked "$(cn i1)" "$ip_i3"
blocked "$(cn w1)" "$ip_i1"
blocked "$(cn w2)" "$ip_i1"
# The same containers reach i0, on the same bridge but in no isolation
# network: the paths exist, the fence is what stops them.
pass "$(cn w1)" "$ip_i0"
pass "$(cn w2)" "$ip_i0"

# A guest config on A (web): one peer, this node; its key is on A's device.
gc=$(ctl 1 '{"op":"attach_container","handle":{"platform":"guest_managed","id":"vm-1"},"service":"web","dns_domain":"corp"}')
python3 - "$gc" "${key[1]}" "${webnet[1]}" <<'PY'
import ipaddress, json, sys
c = json.loads(sys.argv[1])
assert c["result"] == "guest_config", c
assert ipaddress.ip_address(c["overlay_ip"]) in ipaddress.ip_network(sys.argv[3]), c
assert c["prefix_len"] == 26 and c["listen_port"] == 51820, c
assert len(c["private_key"]) == 44 and len(c["public_key"]) == 44 and c["private_key"] != c["public_key"], c
assert c["dns_domain"] == "corp" and c["dns_server"] == "10.200.101.1", c
[p] = c["peers"]
assert p == {"public_key": sys.argv[2], "endpoint": "10.200.101.1:51820", "allowed_ips": "10.200.0.0/16",
             "persistent_keepalive_secs": 25}, p
PY
gk=$(field "$gc" public_key); gip=$(field "$gc" overlay_ip)
ip netns exec "${NS[1]}" wg show "$(gdev 1)" allowed-ips | grep -F "$gk" | grep "$gip/32" > /dev/null
# The config works: a guest on the underlay runs it in wireguard-go, with the
# endpoint rewritten to A's underlay address (the runtime's job), and reaches
# A's node IP, and B's through A (routed back to it over A's /32 route).
ip netns add "$G"
ip link add ug netns "$G" type veth peer name pg netns "$U"
ip -n "$U" link set pg master br0
ip -n "$U" link set pg up
ip -n "$G" link set lo up
ip -n "$G" addr add 10.97.0.10/24 dev ug
ip -n "$G" link set ug up
LOG_LEVEL=error ip netns exec "$G" wireguard-go -f "$GW" > "$tmp/guest.log" 2>&1 &
gwpid=$!
for _ in $(seq 50); do [ -S "/var/run/wireguard/$GW.sock" ] && break; sleep 0.1; done
python3 -c 'import json,sys; print(json.loads(sys.argv[1])["private_key"])' "$gc" > "$tmp/guest.key"
python3 - "$gc" > "$tmp/guest.peer" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
[p] = c["peers"]
print(p["public_key"], p["allowed_ips"], p["persistent_keepalive_secs"], p["endpoint"].rsplit(":", 1)[1])
PY
read -r gpk gallowed gka gport < "$tmp/guest.peer"
ip netns exec "$G" wg set "$GW" private-key "$tmp/guest.key" \
  peer "$gpk" endpoint "10.97.0.1:$gport" allowed-ips "$gallowed" persistent-keepalive "$gka"
ip -n "$G" addr add "$gip/$(field "$gc" prefix_len)" dev "$GW"
ip -n "$G" link set "$GW" mtu 1420 up
ip -n "$G" route add "$gallowed" dev "$GW"
pass "$G" 10.200.101.1
pass "$G" 10.200.102.1
ip netns exec "${NS[1]}" wg show "$(gdev 1)" endpoints | grep -F "$gk" | grep '10.97.0.10:' > /dev/null

# A host-shared attach on B: a /32 of B's slice on B's device, reachable from C.
hs=$(field "$(ctl 2 '{"op":"attach_container","handle":{"platform":"host_shared","id":"h1"},"service":"web"}')" ip)
case "$hs" in 10.200.102.*) ;; *) echo "host-shared ip $hs"; exit 1 ;; esac
ip -n "${NS[2]}" -o addr show dev "$(gdev 2)" | grep " $hs/32 " > /dev/null
pass "${NS[3]}" "$hs"
pass "$(cn w1)" "$hs"

# Status on every node: one global peer per other node (A also has the guest),
# one dedicated service with a peer per other node, every service counted.
for i in 1 2 3; do
  st $i | python3 -c '
import json, sys
i = int(sys.argv[1])
s = json.load(sys.stdin)
assert s["peer_count"] == (3 if i == 1 else 2), s
[d] = s["dedicated_services"]
assert d["service"] == "db" and d["peer_count"] == 2, d
assert s["service_count"] == 4, s
' $i
done

# ---- shutdown: every node exactly as before ------------------------------------
[ ${#devs[@]} = 6 ]
for i in 1 2 3; do
  ctl $i '{"op":"shutdown"}'
done
for i in 1 2 3; do
  for _ in $(seq 100); do kill -0 "${dpid[$i]}" 2>/dev/null || break; sleep 0.1; done
  wait "${dpid[$i]}"
  unset "dpid[$i]"
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for i in 1 2 3; do
  snapshot "${NS[$i]}" > "$tmp/$i.after"
  diff -u "$tmp/$i.before" "$tmp/$i.after"
done
for d in "${devs[@]}"; do
  [ ! -e "/var/run/wireguard/$d.sock" ] || { echo "/var/run/wireguard/$d.sock left behind"; exit 1; }
done
echo "three nodes: auto, shared, dedicated and isolated services across nodes; guest and host-shared; hosts as before"
