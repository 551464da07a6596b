#!/usr/bin/env bash
# Two real overlayd nodes, each behind its own RANDOMISING NAT (masquerade
# random,fully-random: no hole punching can work), fall back to a relay that
# the nat_orchestrator drives through the WireGuard device's own socket, and
# ping across the global overlay through it: first our relay
# (overlay-relayd), then TURN (coturn). A node with the wrong relay
# credential is refused and says so.
#
#  site A ($SA)             router A ($RA)            public ($PB)                 router B ($RB)            site B ($SB)
#  overlayd 10.63.1.2 -lan- 10.63.1.1 nft masq wan -- 198.18.1.1  wa              wb 198.18.2.1 -- wan masq 10.63.2.1 -lan- overlayd 10.63.2.2
#  (zl-..-1-g 10.200.1.1)   198.18.1.2 random,        lo 198.18.0.1:                198.18.2.2 random,        (zl-..-2-g 10.200.2.1)
#                                      fully-random     coturn  :3478 (STUN+TURN)              fully-random
#                                                       relayd  :3490 (ours)
#
# The test plays the agent, per phase with fresh daemons (ports 51820):
#  1. our relay: setup_global_overlay with nat {stun, hole_punch_timeout 6,
#     relay_server {external_addr 198.18.0.1:3490, auth_credential}}; a
#     nat_tick each; nat_status lists a relay candidate 198.18.0.1:P
#     (priority 10, allocated through the device socket: the relay saw the
#     router's address); add_peer each way with the other's candidates from
#     nat_status and an unreachable private endpoint; nat_tick until both
#     report "relayed" at the other's relay candidate; ping both ways;
#     GET /v1/nat/attempts names the direct pairs tried and the relay;
#  2. TURN: the same with nat {turn_servers [coturn, long-term credential]}
#     and no relay_server: relay candidates 198.18.0.1:49xxx, "relayed",
#     ping both ways;
#  3. off the relay (WireGuard port 51830, direct retried every 4 s):
#     relayed as in 1, then both NATs turn port-preserving; with new
#     candidates the next direct retry hole-punches and both peers leave the
#     relay; the NATs are randomising again afterwards;
#  4. wrong credential: B's relay_server credential is wrong; B gets no relay
#     candidate, A does; neither peer is relayed; B's attempt reason says its
#     relay is not usable and names it, A's that B offers no relay;
#     overlay-relayd counted B's refused (unauthenticated) allocations.
# Exit 0 pass, 1 fail, 77 skipped (not root / missing tools).
set -eEuo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"  # grep -q without the pipefail SIGPIPE race
. "$(dirname "$0")/lib/nat_topology.bash"
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
for c in ip nft turnserver curl python3 ping conntrack; do
  command -v "$c" >/dev/null || { echo "skip: missing $c"; exit 77; }
done
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
RELAYD=$BUILD_DIR/net/nat/overlay-relayd
for b in "$D" "$C" "$RELAYD"; do [ -x "$b" ] || { echo "FAIL: $b missing"; exit 1; }; done
tag=nr$$
SA=onrsa$$ SB=onrsb$$ RA=onrra$$ RB=onrrb$$ PB=onrpb$$
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()      # every background process (killed on exit)
daemons=()   # the current phase's overlayd pids

cleanup() {
  set +e
  trap - ERR
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  for ns in "$SA" "$SB" "$RA" "$RB" "$PB"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
show_logs() {
  kill -TERM "$relayd" 2>/dev/null; sleep 0.3  # its counters
  for n in a b; do [ -S "$tmp/$n/ipc.sock" ] && "$C" --socket "$tmp/$n/ipc.sock" --json status 2>/dev/null | head -c 3000; echo; done
  for f in "$tmp"/*.log; do [ -e "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
  return 0
}
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"; show_logs' ERR

# --- topology --------------------------------------------------------------------
nat_topology 10.63
nat_masquerade "random,fully-random"

# --- the public servers ----------------------------------------------------------
ip netns exec "$PB" turnserver -n --no-cli --no-tls --no-dtls --lt-cred-mech --realm ovl.test \
  --user alice:secret-pass --listening-ip 198.18.0.1 --listening-port 3478 \
  --relay-ip 198.18.0.1 --min-port 49160 --max-port 49200 --userdb "$tmp/turndb" \
  --pidfile "$tmp/turn.pid" --log-file "$tmp/turn.log" --no-stdout-log --simple-log >/dev/null 2>&1 &
pids+=($!)
relayd=0
echo cluster-secret > "$tmp/cred"
ip netns exec "$PB" "$RELAYD" --listen 198.18.0.1:3490 --credential-file "$tmp/cred" > "$tmp/relayd.log" 2>&1 &
relayd=$!
pids+=($relayd)
for _ in $(seq 50); do
  ip netns exec "$PB" ss -Hlun | grep -q '198.18.0.1:3478' && grep -q listening "$tmp/relayd.log" && break
  sleep 0.1
done
ip netns exec "$PB" ss -Hlun | grep -q '198.18.0.1:3478'
grep -q listening "$tmp/relayd.log"

# --- helpers ---------------------------------------------------------------------
ctl() { "$C" --socket "$tmp/$1/ipc.sock" --timeout-ms 10000 call "$2"; }
start_daemons() {  # phase [extra overlayd flags...]
  local phase=$1; shift
  daemons=()
  for n in a b; do
    local ns=$SA; [ $n = b ] && ns=$SB
    rm -rf "$tmp/$n"; mkdir -p "$tmp/$n"
    ip netns exec "$ns" "$D" --data-dir "$tmp/$n" --socket "$tmp/$n/ipc.sock" --http 127.0.0.1:7420 \
      --uapi-dir "$tmp/$n/uapi" --firewall-table "ovl_$tag" --log-level info "$@" > "$tmp/$phase.$n.log" 2>&1 &
    pids+=($!); daemons+=($!)
  done
  for n in a b; do
    for _ in $(seq 100); do [ -S "$tmp/$n/ipc.sock" ] && break; sleep 0.1; done
    [ -S "$tmp/$n/ipc.sock" ]
  done
}
stop_daemons() {
  ctl a '{"op":"shutdown"}' >/dev/null
  ctl b '{"op":"shutdown"}' >/dev/null
  for p in "${daemons[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    wait "$p"
  done
}
setup() {  # node instance slice nat-json [wg-port]
  ctl "$1" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"$2\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"$3\",\"wg_port\":${5:-51820},\"nat\":$4}" >/dev/null
}
relay_cand() {  # node -> its relay candidate address, once allocated (bounded)
  for _ in $(seq 50); do
    ctl "$1" '{"op":"nat_status"}' > "$tmp/nat.$1"
    r=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(" ".join(c["address"] for c in s["candidates"] if c["candidate_type"]=="relay"))' "$tmp/nat.$1")
    [ -n "$r" ] && { echo "$r"; return 0; }
    sleep 0.2
  done
  return 0
}
key() { "$C" --socket "$tmp/$1/ipc.sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])'; }
cands() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["candidates"]))' "$tmp/nat.$1"; }
peer_each_way() {
  ka=$(key a); kb=$(key b)
  local ca cb
  ca=$(cands a); cb=$(cands b)
  # The endpoint is the other's private address: unreachable across the NATs.
  ctl a "{\"op\":\"add_peer\",\"public_key\":\"$kb\",\"endpoint\":\"10.63.2.2:51820\",\"allowed_ips\":\"10.200.2.0/28\",\"persistent_keepalive_secs\":25,\"candidates\":$cb}" >/dev/null
  ctl b "{\"op\":\"add_peer\",\"public_key\":\"$ka\",\"endpoint\":\"10.63.1.2:51820\",\"allowed_ips\":\"10.200.1.0/28\",\"persistent_keepalive_secs\":25,\"candidates\":$ca}" >/dev/null
}
ctype() {  # node -> "type endpoint" of its one peer, or nothing yet
  ctl "$1" '{"op":"nat_status"}' > "$tmp/nat.$1"
  python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["peers"]; print(p[0]["connection_type"], p[0].get("remote_endpoint")) if p else None' "$tmp/nat.$1"
}
wait_types() {  # until both nodes report a connection type (bounded: 40 s; a relayed
  # handshake may take hole_punch_timeout + relay_handshake_window = 32 s)
  ta="" tb=""
  local end=$((SECONDS + 40)) tick=0
  while [ $SECONDS -lt $end ]; do
    if [ $SECONDS -ge $tick ]; then
      ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null; tick=$((SECONDS + 5))
    fi
    ta=$(ctype a); tb=$(ctype b)
    [ -n "$ta" ] && [ -n "$tb" ] && return 0
    sleep 0.5
  done
  return 0
}
attempts() {  # node -> file with GET /v1/nat/attempts, once its one peer has an outcome
  # (the log is republished at least once a second: bounded wait)
  local ns=$SA; [ "$1" = b ] && ns=$SB
  for _ in $(seq 30); do
    ip netns exec "$ns" curl -sf 127.0.0.1:7420/v1/nat/attempts > "$tmp/attempts.$1"
    python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if a and a[0]["connection_type"] else 1)' \
      "$tmp/attempts.$1" && return 0
    sleep 0.2
  done
  return 0
}
ping_both() {
  ip netns exec "$SA" ping -c 3 -W 2 -i 0.2 10.200.2.1
  ip netns exec "$SB" ping -c 3 -W 2 -i 0.2 10.200.1.1
  # Full-size packets too: a 1420-byte inner packet (the overlay MTU, DF set)
  # makes a relay frame larger than the 1500-byte underlay MTU (WireGuard's
  # 80 bytes, the relay header), which the device's socket fragments.
  ip netns exec "$SA" ping -c 2 -W 2 -i 0.2 -M do -s 1392 10.200.2.1
}

base='"enabled":true,"stun_servers":["198.18.0.1:3478"],"hole_punch_timeout_secs":6'
ours() {  # credential
  echo "{$base,\"relay_server\":{\"listen_port\":3490,\"external_addr\":\"198.18.0.1:3490\",\"max_sessions\":4,\"auth_credential\":\"$1\"}}"
}

# --- 1. our relay ------------------------------------------------------------------
start_daemons p1
setup a 1 10.200.1.0/28 "$(ours cluster-secret)"
setup b 2 10.200.2.0/28 "$(ours cluster-secret)"
[ "$(ctl a '{"op":"nat_tick"}')" = '{"result":"ok"}' ]
[ "$(ctl b '{"op":"nat_tick"}')" = '{"result":"ok"}' ]
ra=$(relay_cand a); rb=$(relay_cand b)
echo "relay candidates: A $ra, B $rb"
[[ $ra == 198.18.0.1:* ]] && [[ $rb == 198.18.0.1:* ]] && [ "$ra" != "$rb" ]
python3 - "$tmp/nat.a" "$ra" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
c = {(x["candidate_type"], x["address"], x["priority"]) for x in s["candidates"]}
assert ("relay", sys.argv[2], 10) in c, s
assert ("host", "10.63.1.2:51820", 100) in c, s
PY
t0=$SECONDS
peer_each_way
wait_types
echo "A sees B: $ta"; echo "B sees A: $tb" "(after ~$((SECONDS - t0)) s)"
attempts a; echo "A attempts: $(cat "$tmp/attempts.a")"
[ "$ta" = "relayed $rb" ]
[ "$tb" = "relayed $ra" ]
ping_both
python3 - "$tmp/attempts.a" "$kb" "$rb" <<'PY'
import json, sys
att, kb, rb = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
p = [x for x in att if x["peer"] == kb][0]
assert p["connection_type"] == "relayed" and p["remote_endpoint"] == rb, p
last = p["attempts"][-1]
assert last["outcome"] == "relayed", last
assert "host 10.63.2.2:51820" in last["pairs_tried"] and last["pairs_tried"][-1] == "relay " + rb, last
assert "direct pairs failed" in last["reason"] and rb in last["reason"], last
PY
# The device's packets went through the relay (the daemon logs the routes).
grep -q 'relayed route' "$tmp/p1.a.log"
stop_daemons
echo "ok 1: behind random-fully NATs both nodes relayed through overlay-relayd ($ra <-> $rb); ping crosses the overlay both ways"

# --- 2. TURN through coturn --------------------------------------------------------
start_daemons p2
turn="{$base,\"turn_servers\":[{\"addr\":\"198.18.0.1:3478\",\"username\":\"alice\",\"credential\":\"secret-pass\"}]}"
setup a 1 10.200.1.0/28 "$turn"
setup b 2 10.200.2.0/28 "$turn"
ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null
ra=$(relay_cand a); rb=$(relay_cand b)
echo "TURN relay candidates: A $ra, B $rb"
[[ $ra == 198.18.0.1:49* ]] && [[ $rb == 198.18.0.1:49* ]]
t0=$SECONDS
peer_each_way
wait_types
echo "A sees B: $ta"; echo "B sees A: $tb" "(after ~$((SECONDS - t0)) s)"
[ "$ta" = "relayed $rb" ]
[ "$tb" = "relayed $ra" ]
ping_both
stop_daemons
echo "ok 2: both nodes relayed through coturn (TURN ChannelData from the device socket); ping crosses the overlay"

# --- 3. off the relay once a direct path works ------------------------------------
# Relayed as in 1 (relayed peers retry direct every 4 s: --nat-direct-retry),
# then both routers turn port-preserving (plain masquerade, conntrack flushed
# as a restarted NAT would have it): STUN refreshes (every 2 s) give
# server-reflexive candidates with the WireGuard port, the agent re-sends
# them, and the next direct retry hole-punches: both peers leave the relay.
# A fresh WireGuard port keeps the conntrack of phases 1-3 out of it.
start_daemons p3 --nat-direct-retry 4
off="{\"enabled\":true,\"stun_servers\":[\"198.18.0.1:3478\"],\"hole_punch_timeout_secs\":12,\"stun_refresh_interval_secs\":2,\"relay_server\":{\"listen_port\":3490,\"external_addr\":\"198.18.0.1:3490\",\"max_sessions\":4,\"auth_credential\":\"cluster-secret\"}}"
setup a 1 10.200.1.0/28 "$off" 51830
setup b 2 10.200.2.0/28 "$off" 51830
ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null
ra=$(relay_cand a); rb=$(relay_cand b)
peer_each_way
wait_types
echo "before: A sees B: $ta; B sees A: $tb"
[ "$ta" = "relayed $rb" ]
[ "$tb" = "relayed $ra" ]
# While relayed, direct is retried every 4 s (12 s windows); the retries probe
# the direct pairs without moving the traffic off the relay: a ping across
# 15 s of retries loses (almost) nothing.
loss=$(ip netns exec "$SA" ping -q -c 30 -i 0.5 -W 1 10.200.2.1 | sed -nE 's/.* ([0-9.]+)% packet loss.*/\1/p')
echo "ping through the relay during direct retries: ${loss}% loss"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 10 else 1)' "$loss"
nat_masquerade ""
srflx() {  # node -> its server-reflexive candidate
  ctl "$1" '{"op":"nat_status"}' > "$tmp/nat.$1"
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(" ".join(c["address"] for c in s["candidates"] if c["candidate_type"]=="server-reflexive"))' "$tmp/nat.$1"
}
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ]; do
  [ "$(srflx a)" = 198.18.1.2:51830 ] && [ "$(srflx b)" = 198.18.2.2:51830 ] && break
  sleep 0.5
done
[ "$(srflx a)" = 198.18.1.2:51830 ]
[ "$(srflx b)" = 198.18.2.2:51830 ]
peer_each_way  # the agent passes on the new candidates
end=$((SECONDS + 40)) tick=0
while [ $SECONDS -lt $end ]; do
  if [ $SECONDS -ge $tick ]; then
    ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null; tick=$((SECONDS + 5))
  fi
  ta=$(ctype a); tb=$(ctype b)
  [ "$ta" = "hole-punched 198.18.2.2:51830" ] && [ "$tb" = "hole-punched 198.18.1.2:51830" ] && break
  sleep 0.5
done
echo "after: A sees B: $ta; B sees A: $tb"
ip netns exec "$SA" curl -s 127.0.0.1:7420/v1/nat/attempts; echo
[ "$ta" = "hole-punched 198.18.2.2:51830" ]
[ "$tb" = "hole-punched 198.18.1.2:51830" ]
ping_both
attempts a
python3 - "$tmp/attempts.a" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))[0]
outcomes = [a["outcome"] for a in p["attempts"]]
assert "relayed" in outcomes and outcomes[-1] == "hole-punched", outcomes
PY
stop_daemons
nat_masquerade "random,fully-random"
echo "ok 3: a relayed peer moved off the relay to a hole-punched path once its NAT allowed one"

# --- 4. a wrong relay credential is refused ------------------------------------------
start_daemons p4
setup a 1 10.200.1.0/28 "$(ours cluster-secret)"
setup b 2 10.200.2.0/28 "$(ours not-the-secret)"
ctl a '{"op":"nat_tick"}' >/dev/null; ctl b '{"op":"nat_tick"}' >/dev/null
ra=$(relay_cand a)
[[ $ra == 198.18.0.1:* ]]
# B's allocation is never answered: no relay candidate (its nat_status was
# fetched after A's allocation had been answered).
ctl b '{"op":"nat_status"}' > "$tmp/nat.b"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert not [c for c in s["candidates"] if c["candidate_type"]=="relay"], s' "$tmp/nat.b"
peer_each_way
wait_types
echo "A sees B: $ta"; echo "B sees A: $tb"
attempts a; attempts b
echo "B attempts: $(cat "$tmp/attempts.b")"
[ "${ta%% *}" = unreachable ]
[ "${tb%% *}" = unreachable ]
python3 - "$tmp/attempts.a" "$tmp/attempts.b" <<'PY'
import json, sys
a, b = (json.load(open(f))[0] for f in sys.argv[1:3])
ra, rb = a["attempts"][-1]["reason"], b["attempts"][-1]["reason"]
# B cannot use A's relay candidate, and says which relay failed it.
assert "no usable relay candidate (relay 198.18.0.1:3490: " in rb and "wrong credential" in rb, rb
assert "the peer offers no relay candidate" in ra, ra
assert all(not t.startswith("relay ") for t in b["attempts"][-1]["pairs_tried"]), b
PY
stop_daemons
kill -TERM "$relayd"
for _ in $(seq 30); do grep -q stopping "$tmp/relayd.log" && break; sleep 0.1; done
grep stopping "$tmp/relayd.log"
grep -q 'dropped_auth=[1-9]' "$tmp/relayd.log"
echo "ok 4: a wrong relay credential is refused (no relay candidate, not relayed, reason in /v1/nat/attempts)"
echo "PASS: two overlayd nodes behind randomising NATs relayed through our relay and TURN, pinged over the overlay, and left the relay once a direct path worked"
