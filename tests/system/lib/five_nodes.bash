# Five overlayd nodes, eight services each, driven the way the agent drives
# them; sourced by engine_five_nodes_v4.sh and engine_five_nodes_v6.sh, which
# set FAMILY=4 or FAMILY=6 first.
#
#                        ns U: bridge br0 (the underlay, v4 and v6)
#     +-------------+-------------+-------------+-------------+
#   u1 .1         u2 .2         u3 .3         u4 .4         u5 .5
#   ns 1          ns 2          ns 3          ns 4          ns 5     overlayd each
#   slice 1       slice 2       slice 3       slice 4       slice 5  (v4 /24, v6 /64)
#   web api cache (auto)   front admin (shared)   iso (isolated)   db queue (dedicated)
#   one container per service per node ("w1" ... : a sleep in a netns of its own)
#
# The agent's order, as on a real cluster: every node sets its node id and
# the global overlay; a full mesh of global peers carries each node's slice;
# then node by node, the eight services are set up, their subnets read back
# (GET /v1/services through `overlayctl services --json`) and routed to that
# node on every other node (add_allowed_ip on the global peer, service-scoped
# peers for the dedicated devices). A later node's registry therefore steps
# over what earlier nodes took.
#
# Asserted: every node's service subnets are distinct from every other
# node's and from every node slice; one container per service per node, all
# IPs distinct; each container reaches the same service's container on the
# next node (and the source never holds the destination address); dedicated
# traffic grows the dedicated devices' counters; the conflicting
# add_allowed_ip is refused; a retried attach answers the same; join_global
# addresses reach across nodes; isolation holds on the node; a container
# reaches another node's underlay address through masquerade; DNS answers A
# or AAAA for a registered name under the node-wide and an attach's domain.
# Then shutdown everywhere, and every node is exactly as before.
set -eEuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/quiet_grep.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$here/../../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
N=5
tag=f$FAMILY$$
U=ovl${tag}u
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
declare -A NS dpid
for i in $(seq $N); do NS[$i]=ovl${tag}n$i; done
cns=() pids=() devs=()

if [ "$FAMILY" = 4 ]; then
  CLUSTER=10.220.0.0/16; slice() { echo "10.220.$1.0/24"; }; under() { echo "10.97.0.$1"; }
  PING="ping"; DNSTYPE=A
else
  CLUSTER=fd00:220::/48; slice() { echo "fd00:220:0:$1::/64"; }; under() { echo "fd97::$1"; }
  PING="ping -6"; DNSTYPE=AAAA
fi
endpoint() { if [ "$FAMILY" = 4 ]; then echo "$(under "$1"):$2"; else echo "[$(under "$1")]:$2"; fi; }

cleanup() {
  for p in "${dpid[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${dpid[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  for p in "${pids[@]}" "${dpid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for d in "${devs[@]}"; do rm -f "/var/run/wireguard/$d.sock"; done
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  for n in "${NS[@]}" "$U"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the underlay ------------------------------------------------------------
ip netns add "$U"
ip -n "$U" link add br0 type bridge
ip -n "$U" link set br0 up
for i in $(seq $N); do
  n=${NS[$i]}
  ip netns add "$n"
  ip link add u$i netns "$n" type veth peer name p$i netns "$U"
  ip -n "$U" link set p$i master br0
  ip -n "$U" link set p$i up
  ip -n "$n" link set lo up
  ip -n "$n" link set u$i addrgenmode none  # no link-local racing the snapshots
  ip -n "$n" addr add 10.97.0.$i/24 dev u$i
  ip -n "$n" addr add fd97::$i/64 dev u$i nodad
  ip -n "$n" link set u$i up
  # The nodes' uplink: a default route of each family (never used here; the
  # daemon finds its egress interfaces by it).
  ip -n "$n" route add default via 10.97.0.254 dev u$i
  ip -n "$n" -6 route add default via fd97::fe dev u$i
done

snapshot() {  # ns -> a picture of what the daemon may touch
  ip -n "$1" -j link show | python3 -c 'import json,sys; print(sorted((l["ifname"], l.get("operstate")) for l in json.load(sys.stdin)))'
  ip -n "$1" -j addr show | python3 -c 'import json,sys; print(sorted((l["ifname"], a["local"], a["prefixlen"]) for l in json.load(sys.stdin) for a in l.get("addr_info", [])))'
  ip -n "$1" route show table all | sort
  ip -n "$1" -6 route show table all | grep -v '^fe80\|^local fe80\|^multicast' | sort
  ip netns exec "$1" nft list ruleset
  ip netns exec "$1" sysctl -a 2>/dev/null | grep -E '^net\.ipv4\.ip_forward |^net\.ipv[46]\.conf\.[^.]+\.(forwarding|force_forwarding|rp_filter) ' | sort
}
for _ in $(seq 50); do
  ok=1
  for i in $(seq $N); do ip -n "${NS[$i]}" link show u$i | grep 'state UP' > /dev/null || ok=0; done
  [ $ok = 1 ] && break
  sleep 0.1
done
for i in $(seq $N); do snapshot "${NS[$i]}" > "$tmp/$i.before"; done

# ---- helpers -----------------------------------------------------------------
start() {  # node
  mkdir -p "$tmp/$1"
  ip netns exec "${NS[$1]}" "$D" --data-dir "$tmp/$1" --socket "$tmp/$1/ipc.sock" --http 127.0.0.1:7420 \
     --firewall-table "ovl_$tag" --dns-upstream 127.0.0.1:9 --log-level info >> "$tmp/$1.log" 2>&1 &
  dpid[$1]=$!
  for _ in $(seq 100); do [ -S "$tmp/$1/ipc.sock" ] && break; sleep 0.1; done
}
ctl() { "$C" --socket "$tmp/$1/ipc.sock" --timeout-ms 10000 call "$2"; }
ok() { local r; r=$(ctl "$1" "$2") || { echo "node $1: $2 -> $r"; return 1; }; }
st() { "$C" --socket "$tmp/$1/ipc.sock" --json status; }
services_json() { ip netns exec "${NS[$1]}" "$C" --http 127.0.0.1:7420 services --json; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# One service's field from GET /v1/services.
svc_field() {  # node service field
  services_json "$1" | python3 -c '
import json, sys
[row] = [r for r in json.load(sys.stdin) if r["service"] == sys.argv[1]]
v = row
for k in sys.argv[2].split("."): v = v[k]
print(v)' "$2" "$3"
}
. "$here/container.bash"
attach_json() {  # pid service [extra json]
  echo "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$1},\"service\":\"$2\"${3:-}}"
}
# A reply within three tries of 2 s (first packets wait for the handshake).
pass() {
  local try
  for try in 1 2 3; do ip netns exec "$1" $PING -c 1 -W 2 "$2" > /dev/null 2>&1 && return 0; done
  echo "ping $2 from $1 failed"
  return 1
}
blocked() {
  if ip netns exec "$1" $PING -c 1 -W 1 "$2" > /dev/null 2>&1; then echo "isolation breached: $1 reached $2"; return 1; fi
}
holds() {  # netns addr -> does that namespace hold the address?
  ip -n "$1" -j addr show | python3 -c '
import ipaddress, json, sys
want = ipaddress.ip_address(sys.argv[1])
sys.exit(0 if any(ipaddress.ip_address(a["local"]) == want for l in json.load(sys.stdin) for a in l.get("addr_info", [])) else 1)' "$2"
}
uapi_bytes() {  # device -> rx+tx bytes over every peer, from its UAPI socket
  python3 - "/var/run/wireguard/$1.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"get=1\n\n")
buf = b""
while not buf.endswith(b"\n\n"):
    chunk = s.recv(65536)
    if not chunk: break
    buf += chunk
print(sum(int(l.split("=")[1]) for l in buf.decode().splitlines() if l.startswith(("rx_bytes=", "tx_bytes="))))
PY
}

# ---- nodes and the global mesh -----------------------------------------------
for i in $(seq $N); do start $i; done
declare -A key
for i in $(seq $N); do
  ok $i "{\"op\":\"set_local_node_id\",\"node_id\":$i}"
  g=$(ctl $i "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"$i\",\"cluster_cidr\":\"$CLUSTER\",\"slice_cidr\":\"$(slice $i)\",\"wg_port\":51820}")
  devs+=("$(field "$g" name)")
  key[$i]=$(field "$(st $i)" public_key)
done
declare -A nodeip
for i in $(seq $N); do nodeip[$i]=$(field "$(st $i)" node_ip); done
for i in $(seq $N); do
  for j in $(seq $N); do
    [ $i = $j ] && continue
    ok $i "{\"op\":\"add_peer\",\"public_key\":\"${key[$j]}\",\"endpoint\":\"$(endpoint $j 51820)\",\"allowed_ips\":\"$(slice $j)\",\"persistent_keepalive_secs\":25}"
  done
done
for i in $(seq $N); do
  j=$(( i % N + 1 ))
  pass "${NS[$i]}" "${nodeip[$j]}"
done

echo "[${SECONDS}s] services"
# ---- services, node by node, announced to the others ---------------------------
SERVICES="web:auto api:auto cache:auto front:shared admin:shared iso:isolated db:dedicated queue:dedicated"
declare -A subnet dport dkey ddev
for i in $(seq $N); do
  for sm in $SERVICES; do
    s=${sm%%:*}; m=${sm##*:}
    r=$(ctl $i "{\"op\":\"setup_service_overlay\",\"service\":\"$s\",\"mode\":\"$m\"}")
    if [ "$m" = dedicated ]; then dkey[$i.$s]=$(field "$r" wg_public_key); dport[$i.$s]=$(field "$r" wg_port); fi
  done
  for sm in $SERVICES; do
    s=${sm%%:*}
    subnet[$i.$s]=$(svc_field $i $s subnet)
    case $sm in *:dedicated) ddev[$i.$s]=$(svc_field $i $s dedicated.interface); devs+=("${ddev[$i.$s]}") ;; esac
  done
  echo "node $i: $(for sm in $SERVICES; do s=${sm%%:*}; printf '%s %s  ' $s "${subnet[$i.$s]}"; done)"
  # The agent routes node i's subnets to it on every other node (the shared
  # bridge's subnet once), and meshes the dedicated devices.
  nets=$(for sm in $SERVICES; do case $sm in *:dedicated) ;; *) echo "${subnet[$i.${sm%%:*}]}" ;; esac; done | sort -u)
  for j in $(seq $N); do
    [ $i = $j ] && continue
    for net in $nets; do ok $j "{\"op\":\"add_allowed_ip\",\"pubkey\":\"${key[$i]}\",\"cidr\":\"$net\"}"; done
  done
done
for s in db queue; do
  for i in $(seq $N); do
    for j in $(seq $N); do
      [ $i = $j ] && continue
      ok $i "{\"op\":\"add_peer\",\"public_key\":\"${dkey[$j.$s]}\",\"endpoint\":\"$(endpoint $j "${dport[$j.$s]}")\",\"allowed_ips\":\"${subnet[$j.$s]}\",\"persistent_keepalive_secs\":0,\"scope\":{\"scope\":\"service\",\"service\":\"$s\"}}"
    done
  done
done

# The dedicated band starts at 51421 whatever wg_port (51820 here).
[ "${dport[1.db]}" = 51421 ] && [ "${dport[1.queue]}" = 51422 ] || { echo "dedicated ports ${dport[1.db]} ${dport[1.queue]}"; exit 1; }

# Every subnet is distinct across the cluster (the shared services of one
# node share its shared bridge) and overlaps no node slice.
python3 - "$N" "$CLUSTER" "$(for i in $(seq $N); do slice $i; done)" \
    "$(for i in $(seq $N); do for sm in $SERVICES; do s=${sm%%:*}; case $sm in *:shared) s=shared ;; esac; echo "$i $s ${subnet[$i.${sm%%:*}]}"; done; done | sort -u)" <<'PY'
import ipaddress, sys
cluster = ipaddress.ip_network(sys.argv[2])
slices = [ipaddress.ip_network(s) for s in sys.argv[3].split()]
rows = [l.split() for l in sys.argv[4].splitlines()]
nets = [(n, s, ipaddress.ip_network(c)) for n, s, c in rows]
assert len(nets) == int(sys.argv[1]) * 7, f"expected 7 subnets a node, got {len(nets)}"
for i, (n, s, c) in enumerate(nets):
    assert c.subnet_of(cluster), f"{c} outside {cluster}"
    assert c.prefixlen == (26 if c.version == 4 else 120), c
    for sl in slices:
        assert not c.overlaps(sl), f"node {n} {s} {c} overlaps slice {sl}"
    for m, t, d in nets[i + 1:]:
        assert not c.overlaps(d), f"node {n} {s} {c} overlaps node {m} {t} {d}"
print(f"{len(nets)} service subnets, all distinct and outside the {len(slices)} node slices")
PY

# The conflicting route is refused, naming both sides; nothing changed.
r=$(ctl 1 "{\"op\":\"add_allowed_ip\",\"pubkey\":\"${key[2]}\",\"cidr\":\"${subnet[1.web]}\"}") && { echo "conflict accepted: $r"; exit 1; }
grep -q "service web" <<<"$r" && grep -q "${subnet[1.web]}" <<<"$r" || { echo "conflict answer: $r"; exit 1; }
! st 1 | grep -q "${subnet[1.web]}"

echo "[${SECONDS}s] containers"
# ---- containers ----------------------------------------------------------------
declare -A cip cpidof
for i in $(seq $N); do
  for sm in $SERVICES; do
    s=${sm%%:*}
    container "ovl${tag}c$i$s"; cpidof[$i.$s]=$cpid
    extra=""
    case $s in
      web) extra=',"join_global":true' ;;
      api) extra=',"dns_domain":"cluster.local"' ;;
    esac
    r=$(ctl $i "$(attach_json $cpid $s "$extra")") || { echo "node $i: attach to $s: $r"; exit 1; }
    cip[$i.$s]=$(field "$r" ip)
    # A retried attach (the agent lost the reply) answers the same.
    [ "$(ctl $i "$(attach_json $cpid $s "$extra")")" = "$r" ] || { echo "retried attach differs on node $i $s"; exit 1; }
  done
done
# Isolation networks are node-local (as in the seed): two red members and a
# blue one on node 1, beside the iso containers that reach across nodes.
declare -A isoip
for m in red1:red red2:red blue:blue; do
  container "ovl${tag}${m%%:*}"
  isoip[${m%%:*}]=$(field "$(ctl 1 "$(attach_json $cpid iso ",\"isolation_network\":\"${m##*:}\"")")" ip)
done
all_ips=$(for k in "${!cip[@]}"; do echo "${cip[$k]}"; done; for k in "${!isoip[@]}"; do echo "${isoip[$k]}"; done)
[ "$(sort <<<"$all_ips" | uniq -d)" = "" ] || { echo "container IPs collide: $(sort <<<"$all_ips" | uniq -d)"; exit 1; }

echo "[${SECONDS}s] Same service"
# Same service, next node: distinct addresses, and the source does not hold
# the destination (a ping to its own address proves nothing).
for sm in $SERVICES; do
  s=${sm%%:*}
  for i in $(seq $N); do
    j=$(( i % N + 1 ))
    src=ovl${tag}c$i$s dst=${cip[$j.$s]}
    [ "${cip[$i.$s]}" != "$dst" ]
    ! holds "$src" "$dst" || { echo "$src holds $dst"; exit 1; }
    pass "$src" "$dst"
  done
done
echo "every service reaches its containers on the next node"

echo "[${SECONDS}s] Dedicated traffic runs over"
# Dedicated traffic runs over the dedicated devices: their counters grow.
for s in db queue; do
  before=$(uapi_bytes "${ddev[1.$s]}")
  pass "ovl${tag}c1$s" "${cip[3.$s]}"
  ip netns exec "ovl${tag}c1$s" $PING -c 5 -i 0.2 -s 1000 "${cip[3.$s]}" > /dev/null
  after=$(uapi_bytes "${ddev[1.$s]}")
  [ $(( after - before )) -gt 5000 ] || { echo "$s: ${ddev[1.$s]} moved $((after - before)) bytes"; exit 1; }
done

# join_global: the web containers' eth1 addresses reach across nodes.
for i in 1 2; do
  g=$(ip -n "ovl${tag}c${i}web" -j addr show dev eth1 | python3 -c 'import json,sys; print([a["local"] for l in json.load(sys.stdin) for a in l["addr_info"] if a["scope"] == "global"][0])')
  eval "gw$i=$g"
done
! holds "ovl${tag}c1web" "$gw2"
pass "ovl${tag}c1web" "$gw2"

# Isolation on node 1: red reaches red, never blue; blue reaches no red.
pass "ovl${tag}red1" "${isoip[red2]}"
blocked "ovl${tag}red1" "${isoip[blue]}"
blocked "ovl${tag}blue" "${isoip[red1]}"

# Egress: a container reaches node 2's underlay address (masqueraded).
pass "ovl${tag}c1web" "$(under 2)"

# DNS: a registered name answers under the node-wide domain and under the
# domain an attach brought (api's cluster.local), A or AAAA.
ok 1 "{\"op\":\"register_dns\",\"name\":\"web-1\",\"ip\":\"${cip[1.web]}\"}"
for dom in overlay cluster.local; do
  got=$(ip netns exec "${NS[1]}" dig +short +time=2 +tries=2 @"${nodeip[1]}" "web-1.$dom" $DNSTYPE)
  [ "$got" = "${cip[1.web]}" ] || { echo "dig web-1.$dom $DNSTYPE: '$got'"; exit 1; }
done

echo "[${SECONDS}s] shutdown"
# ---- shutdown: each node exactly as before ---------------------------------------
for i in $(seq $N); do ctl $i '{"op":"shutdown"}' > /dev/null || true; done
for i in $(seq $N); do
  for _ in $(seq 100); do kill -0 "${dpid[$i]}" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "${dpid[$i]}" 2>/dev/null; then echo "node $i did not exit"; exit 1; fi
done
dpid=()
for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
cns=()
for i in $(seq $N); do
  snapshot "${NS[$i]}" > "$tmp/$i.after"
  diff -u "$tmp/$i.before" "$tmp/$i.after" || { echo "node $i changed"; exit 1; }
done
echo "five nodes (IPv$FAMILY): all checks passed"
