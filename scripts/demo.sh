#!/usr/bin/env bash
# A three-node overlay on one machine, driven the way the agent drives it.
#
#              ns demo-u: bridge br0 (the "underlay", 10.98.0.0/24)
#        +--------------------+--------------------+
#   node1 10.98.0.1       node2 10.98.0.2       node3 10.98.0.3     (overlayd each)
#   web container w1      web container w2      web container w3
#   db  (dedicated) d1    db  (dedicated) d2
#
# Shows: the global mesh, a service with a container on each node pinging
# across nodes, a dedicated service, DNS names, `overlayctl status` and
# `peers` for each node, and the web view's URL. Everything it made goes on
# exit (Ctrl-C too); the host is left as it was. Needs root and a build
# (scripts/build.sh). With a terminal it waits for Enter before tearing down.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD_DIR:-$root/build}
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it makes network namespaces)"; exit 1; }
[ -x "$B/overlayd" ] || { echo "demo: build first: bash scripts/build.sh"; exit 1; }
tag=demo$$
U=$tag-u
declare -A NS
for i in 1 2 3; do NS[$i]=$tag-n$i; done
tmp=$(mktemp -d /tmp/overlayd-demo.XXXX)
pids=() cns=() dp=()
. "$root/tests/system/lib/container.bash"
cleanup() {
  set +e
  for p in "${dp[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${dp[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
  for p in "${pids[@]}" "${dp[@]}"; do kill -9 "$p" 2>/dev/null; done
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null; done
  for n in "${NS[@]}" "$U"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$tmp"
  echo "demo: torn down; the host is as it was"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
C() { local n=$1; shift; ip netns exec "${NS[$n]}" "$B/overlayctl" --socket "$tmp/$n/ipc.sock" --timeout-ms 10000 "$@"; }
J() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

step "three nodes on an underlay bridge"
ip netns add "$U"; ip -n "$U" link add br0 type bridge; ip -n "$U" link set br0 up
for i in 1 2 3; do
  n=${NS[$i]}
  ip netns add "$n"
  ip link add u$i netns "$n" type veth peer name p$i netns "$U"
  ip -n "$U" link set p$i master br0; ip -n "$U" link set p$i up
  ip -n "$n" link set lo up; ip -n "$n" addr add 10.98.0.$i/24 dev u$i; ip -n "$n" link set u$i up
  mkdir -p "$tmp/$i"
  ip netns exec "$n" "$B/overlayd" --data-dir "$tmp/$i" --socket "$tmp/$i/ipc.sock" --http 127.0.0.1:7420 \
    --uapi-dir "$tmp/$i/uapi" --firewall-table "$tag" --dns-upstream 127.0.0.1:9 --log-level warn > "$tmp/$i.log" 2>&1 &
  dp+=($!)
done
for i in 1 2 3; do for _ in $(seq 100); do [ -S "$tmp/$i/ipc.sock" ] && break; sleep 0.1; done; done

step "global overlay 10.200.0.0/16, node i has slice 10.200.i.0/24, full mesh"
declare -A key nip
for i in 1 2 3; do
  C $i node id $i > /dev/null
  C $i global up --cluster 10.200.0.0/16 --slice 10.200.$i.0/24 --deployment "$tag" --instance $i > /dev/null
  s=$(C $i --json status); key[$i]=$(J "$s" public_key); nip[$i]=$(J "$s" node_ip)
done
for i in 1 2 3; do for j in 1 2 3; do
  [ $i = $j ] || C $i peer add "${key[$j]}" --endpoint 10.98.0.$j:51420 --allowed-ips 10.200.$j.0/24 --keepalive 25 > /dev/null
done; done

step "service web on every node (subnets from the cluster-wide rule), announced to the others"
declare -A web wip
for i in 1 2 3; do
  C $i service add web > /dev/null
  web[$i]=$(C $i services --json | python3 -c 'import json,sys; print([r["subnet"] for r in json.load(sys.stdin) if r["service"]=="web"][0])')
  for j in 1 2 3; do [ $i = $j ] || C $j allowed-ip add "${key[$i]}" "${web[$i]}" > /dev/null; done
  container "$tag-w$i"
  wip[$i]=$(J "$(C $i attach --pid "$cpid" --service web)" ip)
  C $i dns add "web-$i" "${wip[$i]}" > /dev/null
  echo "node $i: web ${web[$i]}, container w$i ${wip[$i]}, DNS web-$i.overlay"
done

step "a dedicated service db on nodes 1 and 2 (its own WireGuard device)"
declare -A db dbip
for i in 1 2; do
  r=$(C $i service add db --mode dedicated); db[$i]=$(J "$r" subnet)
  dkey[$i]=$(J "$r" wg_public_key); dport[$i]=$(J "$r" wg_port)
  container "$tag-d$i"; dbip[$i]=$(J "$(C $i attach --pid "$cpid" --service db)" ip)
done
C 1 peer add "${dkey[2]}" --endpoint 10.98.0.2:${dport[2]} --allowed-ips "${db[2]}" --service db > /dev/null
C 2 peer add "${dkey[1]}" --endpoint 10.98.0.1:${dport[1]} --allowed-ips "${db[1]}" --service db > /dev/null

step "cross-node pings"
ping_from() { if ip netns exec "$1" ping -c 2 -W 2 "$2" > /dev/null; then echo "  $1 -> $2: ok"; else echo "  $1 -> $2: FAILED"; return 1; fi; }
ping_from "$tag-w1" "${wip[2]}"; ping_from "$tag-w2" "${wip[3]}"; ping_from "$tag-w3" "${wip[1]}"
ping_from "$tag-d1" "${dbip[2]}"
echo "  DNS from container w2: web-2.overlay -> $(ip netns exec "$tag-w2" dig +short +time=2 @"${nip[2]}" web-2.overlay)"

for i in 1 2 3; do
  step "node $i: overlayctl status / peers"
  C $i status
  C $i peers
done
step "web view"
echo "each node serves it on its own loopback: ip netns exec ${NS[1]} curl -s http://127.0.0.1:7420/"
echo "or in a browser inside node 1: ip netns exec ${NS[1]} chromium --no-sandbox http://127.0.0.1:7420/"
if [ -t 0 ]; then read -r -p "press Enter to tear everything down " _; fi
