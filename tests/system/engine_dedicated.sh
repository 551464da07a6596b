#!/usr/bin/env bash
# Dedicated per-service overlays across two nodes.
#
#   ns A                                   ns B
#   overlayd, global zl-..-g                overlayd, global zl-..-g
#   service db (dedicated): device -d,      service db (dedicated): device -d,
#     port 51421, bridge -b 10.200.95.192/26  port 51421, bridge -b 10.200.204.128/26
#     <- container ca                         <- container cb
#   ua0 10.99.0.1/24 --------- veth --------- ub0 10.99.0.2/24
#
# The test plays the agent: global overlay + peers, a dedicated `db` on both
# nodes, add_peer scope service{db} between the two dedicated devices, then
# ca pings cb across nodes and `wg show <dedicated>` shows the bytes went over
# the dedicated device. Also: idempotent setup, status' dedicated_services,
# the marker file, identity (key + port) reused by a restarted daemon, precise
# errors for unknown services, teardown freeing port and marker entry, and
# both namespaces exactly as before after shutdown.
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"  # grep -q without the pipefail SIGPIPE race
. "$(dirname "$0")/lib/procs.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=ed$$
A=ovl${tag}a B=ovl${tag}b
CA=ovl${tag}ca CB=ovl${tag}cb
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()
declare -A dpid

cleanup() {
  stop_all "${pids[@]}" "${dpid[@]}"
  for n in "$CA" "$CB" "$A" "$B"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add ua0 netns "$A" type veth peer name ub0 netns "$B"
ip -n "$A" addr add 10.99.0.1/24 dev ua0
ip -n "$B" addr add 10.99.0.2/24 dev ub0
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set ua0 addrgenmode none
ip -n "$B" link set ub0 addrgenmode none
ip -n "$A" link set ua0 up
ip -n "$B" link set ub0 up
for _ in $(seq 50); do
  ip -n "$A" link show ua0 | grep -q 'state UP' && ip -n "$B" link show ub0 | grep -q 'state UP' && break
  sleep 0.1
done

snapshot() {
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
     --firewall-table "ovl_$tag" --log-level warn >> "$tmp/$2.log" 2>&1 &
  dpid[$2]=$!
  for _ in $(seq 100); do [ -S "$tmp/$2/ipc.sock" ] && break; sleep 0.1; done
}
stop() {  # name: shutdown and wait for a clean exit
  ctl "$1" '{"op":"shutdown"}'
  for _ in $(seq 100); do kill -0 "${dpid[$1]}" 2>/dev/null || break; sleep 0.1; done
  wait "${dpid[$1]}"
  unset "dpid[$1]"
}
ctl() { "$C" --socket "$tmp/$1/ipc.sock" --timeout-ms 10000 call "$2"; }
st() { "$C" --socket "$tmp/$1/ipc.sock" --json status; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
expect_err() {  # node, request, text the err must contain
  local out; out=$(ctl "$1" "$2" || true)
  grep -q '"result":"err"' <<<"$out" && grep -qF "$3" <<<"$out" || { echo "expected err '$3', got: $out"; return 1; }
}
global() {  # node, instance, slice
  ctl "$1" "{\"op\":\"set_local_node_id\",\"node_id\":$2}"
  ctl "$1" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"$2\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"$3\",\"wg_port\":51820}"
}
start "$A" a
start "$B" b
global a 1 10.200.1.0/28
global b 2 10.200.2.0/28
ka=$(field "$(st a)" public_key); kb=$(field "$(st b)" public_key)
ctl a "{\"op\":\"add_peer\",\"public_key\":\"$kb\",\"endpoint\":\"10.99.0.2:51820\",\"allowed_ips\":\"10.200.2.0/28\",\"persistent_keepalive_secs\":25}"
ctl b "{\"op\":\"add_peer\",\"public_key\":\"$ka\",\"endpoint\":\"10.99.0.1:51820\",\"allowed_ips\":\"10.200.1.0/28\",\"persistent_keepalive_secs\":25}"

# Subnets come from the cluster-wide rule (FNV-1a of "db", 0x1f, the node
# id): db@1 10.200.95.192/26, db@2 10.200.204.128/26 (python3 gives the same:
# see net/ipam.test.cpp). B's pad service shows a node's other services do
# not move them.
ctl b '{"op":"setup_service_overlay","service":"pad"}'
expect_err a '{"op":"add_peer","public_key":"'"$kb"'","endpoint":"10.99.0.2:51821","allowed_ips":"10.200.204.128/26","persistent_keepalive_secs":0,"scope":{"scope":"service","service":"db"}}' 'no dedicated overlay for service db'
sa=$(ctl a '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')
sb=$(ctl b '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')
echo "A: $sa"; echo "B: $sb"
# Idempotent: the same identity again.
[ "$(ctl a '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')" = "$sa" ]
python3 - "$sa" "$sb" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for x in (a, b):
    assert x["result"] == "service_overlay" and x["mode"] == "dedicated", x
    assert x["wg_port"] == 51421, x            # lowest free in 51421..=51676, whatever wg_port
    assert x["name"].endswith("-b"), x         # the attach handle is the bridge
    assert len(x["wg_public_key"]) == 44, x
assert a["subnet"] == "10.200.95.192/26" and a["overlay_ip"] == "10.200.95.193", a
assert b["subnet"] == "10.200.204.128/26" and b["overlay_ip"] == "10.200.204.129", b
assert a["wg_public_key"] != b["wg_public_key"]
PY
kda=$(field "$sa" wg_public_key); kdb=$(field "$sb" wg_public_key)
dev() {  # node -> the dedicated interface from status
  st "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin)["dedicated_services"]; assert len(d)==1 and d[0]["service"]=="db", d; print(d[0]["interface"])'
}
da=$(dev a); db=$(dev b)
case "$da" in zl-*-d) ;; *) echo "dedicated interface name $da"; exit 1 ;; esac
ip -n "$A" -j addr show dev "$da" | grep -q '"local":"10.200.95.193"'

# The marker holds the identity, mode 0600.
python3 - "$tmp/a/agent_network.json" "$kda" "$da" <<'PY'
import json, os, stat, sys
m = json.load(open(sys.argv[1]))
assert m["version"] == 1, m
[e] = [n for n in m["networks"] if n["owner"] == "service:db"]
assert e["kind"] == "wg-dedicated" and e["wg_port"] == 51421 and e["wg_public_key"] == sys.argv[2], e
assert e["interface"] == sys.argv[3] and e["name"] == sys.argv[3] and e["id"] == sys.argv[2], e
assert e["subnet"] == "10.200.95.192/26" and len(e["wg_private_key"]) == 44, e
assert stat.S_IMODE(os.stat(sys.argv[1]).st_mode) == 0o600
PY

# Peers between the dedicated devices, scope service{db}.
ctl a "{\"op\":\"add_peer\",\"public_key\":\"$kdb\",\"endpoint\":\"10.99.0.2:51421\",\"allowed_ips\":\"10.200.204.128/26\",\"persistent_keepalive_secs\":25,\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
ctl b "{\"op\":\"add_peer\",\"public_key\":\"$kda\",\"endpoint\":\"10.99.0.1:51421\",\"allowed_ips\":\"10.200.95.192/26\",\"persistent_keepalive_secs\":25,\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
ip -n "$A" route show 10.200.204.128/26 | grep -q "dev $da"

# Containers on each node, attached to db.
. "$(dirname "$0")/lib/container.bash"  # container NAME -> $cpid
container "$CA"; pa=$cpid
container "$CB"; pb=$cpid
ipa=$(field "$(ctl a "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$pa},\"service\":\"db\"}")" ip)
ipb=$(field "$(ctl b "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$pb},\"service\":\"db\"}")" ip)
echo "ca=$ipa cb=$ipb"
[ "$ipa" = 10.200.95.194 ] && [ "$ipb" = 10.200.204.130 ]
ip netns exec "$CA" ping -c 3 -W 2 -i 0.2 "$ipb"
ip netns exec "$CB" ping -c 3 -W 2 -i 0.2 "$ipa"

# The traffic went over the dedicated devices: handshake and bytes both ways.
ip netns exec "$A" wg show "$da" dump > "$tmp/wg.a"
cat "$tmp/wg.a"
awk -v k="$kdb" '$1 == k && $5 > 0 && $6 > 0 && $7 > 0 { ok = 1 } END { exit !ok }' "$tmp/wg.a"
head -1 "$tmp/wg.a" | awk '{ exit !($3 == 51421) }'
st a | python3 -c 'import json,sys; d=json.load(sys.stdin)["dedicated_services"][0]; assert d["peer_count"]==1 and d["listen_port"]==51421 and d["subnet"]=="10.200.95.192/26", d'

# Service-scoped allowed IPs go to the dedicated device (and its routes).
ctl a "{\"op\":\"add_allowed_ip\",\"pubkey\":\"$kdb\",\"cidr\":\"10.200.0.128/26\",\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
ip netns exec "$A" wg show "$da" allowed-ips | grep -q '10.200.0.128/26'
ip -n "$A" route show 10.200.0.128/26 | grep -q "dev $da"
ctl a "{\"op\":\"remove_allowed_ip\",\"pubkey\":\"$kdb\",\"cidr\":\"10.200.0.128/26\",\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
if ip netns exec "$A" wg show "$da" allowed-ips | grep -q '10.200.0.128/26'; then echo "allowed ip not removed"; exit 1; fi
[ -z "$(ip -n "$A" route show 10.200.0.128/26)" ]
expect_err a "{\"op\":\"remove_peer\",\"pubkey\":\"$kdb\",\"scope\":{\"scope\":\"service\",\"service\":\"nosuch\"}}" 'no dedicated overlay for service nosuch'
expect_err a "{\"op\":\"add_allowed_ip\",\"pubkey\":\"$kdb\",\"cidr\":\"10.1.0.0/24\",\"scope\":{\"scope\":\"service\",\"service\":\"nosuch\"}}" 'no dedicated overlay for service nosuch'

# A guest of db gets one peer: A's dedicated device; a host-shared attach an
# alias on the global device. Both detach cleanly.
gc=$(ctl a '{"op":"attach_container","handle":{"platform":"guest_managed","id":"vm-1"},"service":"db"}')
python3 - "$gc" "$kda" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
assert c["result"] == "guest_config", c
assert c["listen_port"] == 51421 and len(c["peers"]) == 1, c
p = c["peers"][0]
assert p["public_key"] == sys.argv[2] and p["allowed_ips"] == "10.200.95.192/26" and p["persistent_keepalive_secs"] == 25, p
assert p["endpoint"] == "10.200.1.1:51421", p
PY
gk=$(field "$gc" public_key)
ip netns exec "$A" wg show "$da" allowed-ips | grep -F "$gk" | grep -q "$(field "$gc" overlay_ip)/32"
ctl a '{"op":"detach_container","handle":{"platform":"guest_managed","id":"vm-1"}}'
if ip netns exec "$A" wg show "$da" peers | grep -qF "$gk"; then echo "guest peer left behind"; exit 1; fi
hs=$(field "$(ctl a '{"op":"attach_container","handle":{"platform":"host_shared","id":"h1"},"service":"db"}')" ip)
# (captured first: `grep -q` in a pipeline under pipefail can SIGPIPE `ip`)
addrs=$(ip -n "$A" -o addr show dev "$(field "$(st a)" interface)")
grep -q " $hs/32 " <<< "$addrs"
ctl a '{"op":"detach_container","handle":{"platform":"host_shared","id":"h1"}}'
if ip -n "$A" -o addr show | grep -q " $hs/32 "; then echo "host-shared alias left behind"; exit 1; fi

# prune_orphan_bridges: a stray zl-*-b bridge with no members goes, one with
# a member and the live ones stay.
ip -n "$B" link add zl-${tag}x-b type bridge
ip -n "$B" link add zl-${tag}y-b type bridge
ip -n "$B" link add ${tag}dm type veth peer name ${tag}dn
ip -n "$B" link set ${tag}dm master zl-${tag}y-b
bpad=$(ip -n "$B" -o link show | awk -F': ' '{print $2}' | grep -- '-b$' | grep -v "^zl-${tag}[xy]-b" | tr '\n' ' ')
live=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1].split()))' "$bpad")
pr=$(ctl b "{\"op\":\"prune_orphan_bridges\",\"live_bridge_names\":$live}")
echo "prune: $pr"
[ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["reclaimed"])' "$pr")" = "['zl-${tag}x-b']" ]
if ip -n "$B" link show zl-${tag}x-b 2>/dev/null; then echo "orphan bridge survived prune"; exit 1; fi
ip -n "$B" link del ${tag}dm
ip -n "$B" link del zl-${tag}y-b

# A second dedicated service takes the next port of the band.
[ "$(field "$(ctl a '{"op":"setup_service_overlay","service":"db2","mode":"dedicated"}')" wg_port)" = 51422 ]
ctl a '{"op":"teardown_service_overlay","service":"db2"}'

# Restart A on the same data dir: the identity (key and port) comes back.
ctl a "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$pa}}"
stop a
start "$A" a
global a 1 10.200.1.0/28
# A new dedicated service does not take the port db recorded in the marker.
[ "$(field "$(ctl a '{"op":"setup_service_overlay","service":"db3","mode":"dedicated"}')" wg_port)" = 51422 ]
sa2=$(ctl a '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')
[ "$(field "$sa2" wg_public_key)" = "$kda" ] && [ "$(field "$sa2" wg_port)" = 51421 ]

# Teardown: device gone, marker entry gone, port free again.
ctl a '{"op":"teardown_service_overlay","service":"db"}'
if ip -n "$A" link show "$da" 2>/dev/null; then echo "$da survived teardown"; exit 1; fi
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert not [n for n in m["networks"] if n["owner"]=="service:db"], m' "$tmp/a/agent_network.json"
[ "$(st a | python3 -c 'import json,sys; print([d["service"] for d in json.load(sys.stdin).get("dedicated_services", [])])')" = "['db3']" ]
sa3=$(ctl a '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')
[ "$(field "$sa3" wg_port)" = 51421 ] && [ "$(field "$sa3" wg_public_key)" != "$kda" ]

ctl b "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$pb}}"
stop a
stop b
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
snapshot "$A" > "$tmp/a.after"
snapshot "$B" > "$tmp/b.after"
diff -u "$tmp/a.before" "$tmp/a.after"
diff -u "$tmp/b.before" "$tmp/b.after"
[ ! -e "/var/run/wireguard/$da.sock" ] && [ ! -e "/var/run/wireguard/$db.sock" ]
echo "dedicated overlays carried db across nodes; hosts are as before"
