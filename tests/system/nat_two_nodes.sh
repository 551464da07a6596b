#!/usr/bin/env bash
# Two real overlayd nodes, each behind its own port-preserving NAT, find each
# other through STUN and hole punching driven by the nat_orchestrator, then
# ping across the global overlay.
#
#  site A ($SA)             router A ($RA)            public ($PB)            router B ($RB)            site B ($SB)
#  overlayd 10.62.1.2 -lan- 10.62.1.1 nft masq wan -- 198.18.1.1  wa          wb 198.18.2.1 -- wan masq 10.62.2.1 -lan- overlayd 10.62.2.2
#  (zl-..-1-g 10.200.1.1)   198.18.1.2                coturn (STUN only)       198.18.2.2               (zl-..-2-g 10.200.2.1)
#                                                      on 198.18.0.1:3478
#
# The test plays the agent:
#  1. before any global overlay: nat_tick is ok (a no-op), nat_status the
#     empty snapshot; with nat {enabled:false}: the same;
#  2. setup_global_overlay with nat {enabled, stun_servers:[public STUN]} (A
#     also with relay_server: its relay listens after the first tick, once) and
#     a nat_tick on each: each node's nat_status lists its host candidate and
#     the server-reflexive one, which is the router's public address with the
#     WireGuard port (the STUN probe left through the device's own socket);
#  3. add_peer each way with the other's candidates from its nat_status; the
#     endpoint given is the other's private host address, which is NOT
#     reachable across the NATs, so only the connect step can make it work;
#  4. nat_tick on both (bounded); nat_status then reports the peer
#     "hole-punched" at the other router's public address (the host pair is
#     tried first and fails; the server-reflexive pair wins, and the planner
#     calls a winning server-reflexive address hole-punched), and ping
#     crosses the overlay both ways;
#  5. GET /v1/nat answers the same snapshot, GET /v1/nat/attempts the log.
# Exit 0 pass, 1 fail, 77 skipped (not root / missing tools).
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"  # grep -q without the pipefail SIGPIPE race
. "$(dirname "$0")/lib/nat_topology.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
for c in ip nft turnserver curl python3; do
  command -v "$c" >/dev/null || { echo "skip: missing $c"; exit 77; }
done
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=n2$$
SA=on2sa$$ SB=on2sb$$ RA=on2ra$$ RB=on2rb$$ PB=on2pb$$
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()

cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for ns in "$SA" "$SB" "$RA" "$RB" "$PB"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
show_logs() {
  for f in "$tmp"/*.log; do [ -e "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }; done
  return 0
}
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"; show_logs' ERR

# --- topology (as nat_traversal.sh) ---------------------------------------------
nat_topology 10.62
nat_masquerade ""

# coturn as a plain STUN server (Binding needs no credentials).
# Two addresses: two STUN servers to tell the NAT's mapping behaviour.
ip -n "$PB" addr add 198.18.0.2/32 dev lo
ip netns exec "$PB" turnserver -n --no-cli --no-tls --no-dtls --stun-only --listening-ip 198.18.0.1 \
  --listening-ip 198.18.0.2 --listening-port 3478 --pidfile "$tmp/turn.pid" --log-file "$tmp/turn.log" --no-stdout-log --simple-log \
  >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do ip netns exec "$PB" ss -Hlun | grep -q '198.18.0.1:3478' && break; sleep 0.1; done
ip netns exec "$PB" ss -Hlun | grep -q '198.18.0.1:3478'
for _ in $(seq 50); do ip netns exec "$PB" ss -Hlun | grep -q '198.18.0.2:3478' && break; sleep 0.1; done

# --- the daemons -----------------------------------------------------------------
start() {  # ns name
  mkdir -p "$tmp/$2"
  ip netns exec "$1" "$D" --data-dir "$tmp/$2" --socket "$tmp/$2/ipc.sock" --http 127.0.0.1:7420 \
     --uapi-dir "$tmp/$2/uapi" --firewall-table "ovl_$tag" --log-level info > "$tmp/$2.log" 2>&1 &
  pids+=($!)
}
start "$SA" a
start "$SB" b
ctl() { "$C" --socket "$tmp/$1/ipc.sock" --timeout-ms 10000 call "$2"; }
for n in a b; do
  for _ in $(seq 100); do [ -S "$tmp/$n/ipc.sock" ] && break; sleep 0.1; done
done

empty='{"result":"nat_status","candidates":[],"peers":[],"last_refresh":0}'
# 1. No global overlay: tick is a no-op, status empty.
[ "$(ctl a '{"op":"nat_tick"}')" = '{"result":"ok"}' ]
[ "$(ctl a '{"op":"nat_status"}')" = "$empty" ]

setup() {  # node instance slice nat-json
  ctl "$1" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"$2\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"$3\",\"wg_port\":51820,\"nat\":$4}"
}
# NAT disabled: still a no-op.
setup a 1 10.200.1.0/28 '{"enabled":false,"stun_servers":["198.18.0.1:3478"]}' >/dev/null
[ "$(ctl a '{"op":"nat_tick"}')" = '{"result":"ok"}' ]
[ "$(ctl a '{"op":"nat_status"}')" = "$empty" ]
echo "ok 1: nat_tick without NAT is ok, nat_status the empty snapshot"

# 2. Enabled (a repeated setup updates the config), one tick each.
# hole_punch_timeout 15 s (the default, stated): two pairs get ~6.75 s each
# after the 1.5 s punch lead, and WireGuard sends at most one initiation per
# REKEY_TIMEOUT (5 s), so a shorter window could see no initiation at all on
# the second pair.
nat='{"enabled":true,"stun_servers":["198.18.0.1:3478","198.18.0.2:3478"],"hole_punch_timeout_secs":15}'
# A also runs the built-in relay server (started once, on the first tick).
nat_relay=${nat%\}}',"relay_server":{"listen_port":3490,"external_addr":"10.62.1.2:3490","max_sessions":4,"auth_credential":"cluster-secret"}}'
setup a 1 10.200.1.0/28 "$nat_relay" >/dev/null
setup b 2 10.200.2.0/28 "$nat" >/dev/null
ip netns exec "$SA" ss -Hlun | grep -q ':3490 ' && { echo "relay server before the first tick"; exit 1; }
[ "$(ctl a '{"op":"nat_tick"}')" = '{"result":"ok"}' ]
[ "$(ctl b '{"op":"nat_tick"}')" = '{"result":"ok"}' ]
ip netns exec "$SA" ss -Hlun | grep -q ':3490 '
ctl a '{"op":"nat_tick"}' >/dev/null  # a second tick does not start a second one
[ "$(ip netns exec "$SA" ss -Hlun | grep -c ':3490 ')" = 1 ]
srflx() {  # node -> its server-reflexive address, once STUN answered (bounded)
  for _ in $(seq 50); do
    ctl "$1" '{"op":"nat_status"}' > "$tmp/nat.$1"
    r=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(" ".join(c["address"] for c in s["candidates"] if c["candidate_type"]=="server-reflexive"))' "$tmp/nat.$1")
    [ -n "$r" ] && { echo "$r"; return 0; }
    sleep 0.2
  done
  cat "$tmp/nat.$1" >&2
  return 1
}
[ "$(srflx a)" = 198.18.1.2:51820 ]  # one candidate though two servers answered
[ "$(srflx b)" = 198.18.2.2:51820 ]
# Both STUN servers saw the same mapping: a port-preserving, endpoint-
# independent NAT, reported at GET /v1/nat/mapping (published once a second).
for _ in $(seq 30); do
  ip netns exec "$SA" curl -sf 127.0.0.1:7420/v1/nat/mapping > "$tmp/mapping.a"
  grep -q endpoint-independent "$tmp/mapping.a" && break
  sleep 0.2
done
[ "$(cat "$tmp/mapping.a")" = '{"mapping":"endpoint-independent","problems":[]}' ]
python3 - "$tmp/nat.a" <<'PY'
import json, sys, time
s = json.load(open(sys.argv[1]))
c = {(x["candidate_type"], x["address"], x["priority"]) for x in s["candidates"]}
assert ("host", "10.62.1.2:51820", 100) in c, s
assert ("server-reflexive", "198.18.1.2:51820", 50) in c, s
assert not any(x["address"].startswith("10.200.") for x in s["candidates"]), s  # not the overlay's own TUN
assert abs(time.time() - s["last_refresh"]) < 60, s
assert s["peers"] == [], s
PY
echo "ok 2: candidates: host 10.62.1.2:51820, server-reflexive 198.18.1.2:51820 (router address, WireGuard port)"

# 3. Each learns the other's candidates; the endpoint is the private address.
key() { "$C" --socket "$tmp/$1/ipc.sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])'; }
ka=$(key a); kb=$(key b)
cands() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["candidates"]))' "$tmp/nat.$1"; }
ca=$(cands a); cb=$(cands b)
ctl a "{\"op\":\"add_peer\",\"public_key\":\"$kb\",\"endpoint\":\"10.62.2.2:51820\",\"allowed_ips\":\"10.200.2.0/28\",\"persistent_keepalive_secs\":25,\"candidates\":$cb}"
ctl b "{\"op\":\"add_peer\",\"public_key\":\"$ka\",\"endpoint\":\"10.62.1.2:51820\",\"allowed_ips\":\"10.200.1.0/28\",\"persistent_keepalive_secs\":25,\"candidates\":$ca}"

# 4. Ticks until both report the peer connected (bounded: ~60 s).
ctype() {  # node -> "type endpoint" of its one peer, or nothing yet
  ctl "$1" '{"op":"nat_status"}' > "$tmp/nat.$1"
  python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["peers"]; print(p[0]["connection_type"], p[0].get("remote_endpoint")) if p else None' "$tmp/nat.$1"
}
ta="" tb=""
for i in $(seq 60); do
  if [ $((i % 5)) = 1 ]; then ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null; fi
  ta=$(ctype a); tb=$(ctype b)
  [ -n "$ta" ] && [ -n "$tb" ] && break
  sleep 1
done
echo "A sees B: $ta"; echo "B sees A: $tb"
ip netns exec "$SA" curl -s 127.0.0.1:7420/v1/nat/attempts > "$tmp/attempts.a"; echo "A attempts: $(cat "$tmp/attempts.a")"
[ "$ta" = "hole-punched 198.18.2.2:51820" ]
[ "$tb" = "hole-punched 198.18.1.2:51820" ]
ip netns exec "$SA" ping -c 3 -W 2 -i 0.2 10.200.2.1
ip netns exec "$SB" ping -c 3 -W 2 -i 0.2 10.200.1.1
echo "ok 4: both hole-punched through the NATs; ping crosses the overlay both ways"

# 5. The HTTP API: /v1/nat is the nat_status response, /v1/nat/attempts the log.
# The attempt log is published on each connect action and at least once a
# second, so it may trail nat_status by up to a second: re-read it (bounded).
ip netns exec "$SA" curl -sf 127.0.0.1:7420/v1/nat > "$tmp/http.nat"
check_http() {
  python3 - "$tmp/http.nat" "$tmp/nat.a" "$tmp/attempts.a" "$kb" <<'PY'
import json, sys
h, s, att = (json.load(open(f)) for f in sys.argv[1:4])
assert h["result"] == "nat_status" and h["peers"] == s["peers"] and h["candidates"] == s["candidates"], (h, s)
assert list(h.keys()) == ["result", "candidates", "peers", "last_refresh"], h
p = [x for x in att if x["peer"] == sys.argv[4]][0]
assert p["connection_type"] == "hole-punched", p
last = p["attempts"][-1]
assert last["outcome"] == "hole-punched" and any("198.18.2.2:51820" in t for t in last["pairs_tried"]), p
PY
}
for i in $(seq 10); do
  check_http 2>/dev/null && break
  sleep 0.5
  ip netns exec "$SA" curl -sf 127.0.0.1:7420/v1/nat/attempts > "$tmp/attempts.a"
done
check_http
echo "ok 5: GET /v1/nat matches nat_status; GET /v1/nat/attempts explains it"

ctl a '{"op":"shutdown"}' >/dev/null
ctl b '{"op":"shutdown"}' >/dev/null
for p in "${pids[@]:1}"; do
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  wait "$p"
done
echo "PASS: two overlayd nodes behind port-preserving NATs hole-punched and pinged over the overlay"
