#!/usr/bin/env bash
# relay.sh - TCP throughput between two overlayd nodes over the global
# overlay: hole-punched (direct through port-preserving NATs), through our
# relay (overlay-relayd) and through TURN (coturn), both behind randomising
# NATs. Same topology as tests/system/nat_relay_nodes.sh:
#
#  site A --lan-- router A (nft masquerade) --wan-- public (coturn :3478, relayd :3490 on 198.18.0.1) --wan-- router B --lan-- site B
#  overlayd + iperf3 -c                                                                                        overlayd + iperf3 -s
#
# Prints one line per mode: Mbit/s (iperf3 TCP, 1 stream, DUR s) and the
# seconds from add_peer to the connection type; last line the ratios to
# direct. Needs root, turnserver, iperf3, jq, python3. Everything lives in
# namespaces it creates and is removed on exit.
# Usage: sudo BUILD_DIR=$PWD/build bench/relay.sh   (DUR=5 default)
set -euo pipefail
. "$(dirname "$0")/../tests/system/lib/nat_topology.bash"
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
for c in ip nft turnserver iperf3 jq python3; do command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 1; }; done
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
D=$BUILD_DIR/overlayd C=$BUILD_DIR/overlayctl RELAYD=$BUILD_DIR/net/nat/overlay-relayd
DUR=${DUR:-5}
tag=br$$
SA=brsa$$ SB=brsb$$ RA=brra$$ RB=brrb$$ PB=brpb$$
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=() daemons=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for ns in "$SA" "$SB" "$RA" "$RB" "$PB"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

nat_topology 10.64

ip netns exec "$PB" turnserver -n --no-cli --no-tls --no-dtls --lt-cred-mech --realm ovl.test \
  --user alice:secret-pass --listening-ip 198.18.0.1 --listening-port 3478 \
  --relay-ip 198.18.0.1 --min-port 49160 --max-port 49200 --userdb "$tmp/turndb" \
  --pidfile "$tmp/turn.pid" --log-file "$tmp/turn.log" --no-stdout-log --simple-log >/dev/null 2>&1 &
pids+=($!)
echo cluster-secret > "$tmp/cred"
ip netns exec "$PB" "$RELAYD" --listen 198.18.0.1:3490 --credential-file "$tmp/cred" > "$tmp/relayd.log" 2>&1 &
pids+=($!)
ip netns exec "$SB" iperf3 -s -p 5201 > "$tmp/iperf3-s.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do ip netns exec "$PB" ss -Hlun | grep -q '198.18.0.1:3478' && grep -q listening "$tmp/relayd.log" && break; sleep 0.1; done

ctl() { "$C" --socket "$tmp/$1/ipc.sock" --timeout-ms 10000 call "$2"; }
key() { "$C" --socket "$tmp/$1/ipc.sock" --json status | jq -r .public_key; }
run_mode() {  # name nat-flags nat-json want-type wg-port (a fresh port per mode: no stale conntrack)
  nat_masquerade "$2"
  daemons=()
  for n in a b; do
    local ns=$SA; [ $n = b ] && ns=$SB
    rm -rf "$tmp/$n"; mkdir -p "$tmp/$n"
    ip netns exec "$ns" "$D" --data-dir "$tmp/$n" --socket "$tmp/$n/ipc.sock" --http off \
      --uapi-dir "$tmp/$n/uapi" --firewall-table "ovl_$tag" --log-level warn > "$tmp/$1.$n.log" 2>&1 &
    pids+=($!); daemons+=($!)
  done
  for n in a b; do for _ in $(seq 100); do [ -S "$tmp/$n/ipc.sock" ] && break; sleep 0.1; done; done
  ctl a "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":$5,\"nat\":$3}" >/dev/null
  ctl b "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"2\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.2.0/28\",\"wg_port\":$5,\"nat\":$3}" >/dev/null
  ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null
  sleep 2  # STUN answers and allocations
  local ka kb ca cb
  ka=$(key a); kb=$(key b)
  ca=$(ctl a '{"op":"nat_status"}' | jq -c .candidates); cb=$(ctl b '{"op":"nat_status"}' | jq -c .candidates)
  local t0=$SECONDS
  ctl a "{\"op\":\"add_peer\",\"public_key\":\"$kb\",\"endpoint\":\"10.64.2.2:$5\",\"allowed_ips\":\"10.200.2.0/28\",\"persistent_keepalive_secs\":25,\"candidates\":$cb}" >/dev/null
  ctl b "{\"op\":\"add_peer\",\"public_key\":\"$ka\",\"endpoint\":\"10.64.1.2:$5\",\"allowed_ips\":\"10.200.1.0/28\",\"persistent_keepalive_secs\":25,\"candidates\":$ca}" >/dev/null
  local ta=""
  for i in $(seq 40); do
    [ $((i % 5)) = 1 ] && { ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null; }
    ta=$(ctl a '{"op":"nat_status"}' | jq -r '.peers[0].connection_type // empty')
    tb=$(ctl b '{"op":"nat_status"}' | jq -r '.peers[0].connection_type // empty')
    [ -n "$ta" ] && [ -n "$tb" ] && break
    sleep 0.5
  done
  local secs=$((SECONDS - t0))
  [ "$ta" = "$4" ] || { echo "$1: connection type '$ta', wanted $4" >&2; exit 1; }
  ip netns exec "$SA" ping -c 1 -W 2 10.200.2.1 >/dev/null
  local mbps
  mbps=$(ip netns exec "$SA" iperf3 -c 10.200.2.1 -p 5201 -t "$DUR" -J | jq '.end.sum_received.bits_per_second / 1e6 | floor')
  printf '%-8s %-13s %6s Mbit/s  (connected after ~%s s)\n' "$1" "$ta" "$mbps" "$secs"
  eval "mbps_$1=$mbps"
  ctl a '{"op":"shutdown"}' >/dev/null; ctl b '{"op":"shutdown"}' >/dev/null
  for p in "${daemons[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
}

base='"enabled":true,"stun_servers":["198.18.0.1:3478"],"hole_punch_timeout_secs":6'
run_mode relay "random,fully-random" \
  "{$base,\"relay_server\":{\"listen_port\":3490,\"external_addr\":\"198.18.0.1:3490\",\"max_sessions\":4,\"auth_credential\":\"cluster-secret\"}}" relayed 51830
run_mode turn "random,fully-random" \
  "{$base,\"turn_servers\":[{\"addr\":\"198.18.0.1:3478\",\"username\":\"alice\",\"credential\":\"secret-pass\"}]}" relayed 51831
# Hole punching needs the default 15 s: WireGuard initiates at most every 5 s,
# and each pair needs one initiation within its share of the timeout.
run_mode direct "" "{${base%,*},\"hole_punch_timeout_secs\":15}" hole-punched 51832
python3 -c "import sys; d,r,t=map(float,sys.argv[1:]); print(f'ratio to direct: relay {r/d:.2f}, turn {t/d:.2f}')" \
  "$mbps_direct" "$mbps_relay" "$mbps_turn"
