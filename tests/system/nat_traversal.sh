#!/usr/bin/env bash
# nat_traversal.sh - STUN, our relay and TURN through NAT routers built in namespaces.
#
#  site A ($SA)            router A ($RA)                public ($PB)                 router B ($RB)            site B ($SB)
#  +--------------+       +-------------------+        +------------------------+   +-------------------+    +--------------+
#  | 10.61.1.2    +--lan--+ 10.61.1.1  nft    |        | lo: 198.18.0.1 (stun1, |   |    nft  10.61.2.1 +lan-+ 10.61.2.2    |
#  | natprobe     |       | masquerade   wan  +--------+      relayd, turn,     +---+ wan              |    | natprobe     |
#  +--------------+       | 198.18.1.2  ------|  .1.1  |      echo)             |.2.1  198.18.2.2      |    +--------------+
#                         +-------------------+        |     198.18.0.2 (stun2) |   +-------------------+
#                                                      | coturn + overlay-relayd|
#                                                      +------------------------+
#
# Checks (all traffic stays inside these namespaces):
#  1. port-preserving NAT (masquerade): STUN from 10.61.1.2:51820 to both
#     servers yields 198.18.1.2:51820 and "endpoint-independent";
#     then A and B (nat_traversal on one UDP socket each: STUN, relay and
#     stand-in "handshakes" share it, as on the WireGuard socket)
#     exchange candidates and the connect planner ends "hole-punched";
#  2. randomising NAT (masquerade random,fully-random): the mapping is
#     "endpoint-dependent";
#  3. two relay clients behind randomising NATs pair on overlay-relayd and
#     exchange 5 pings/echoes; the connect planner on A and B ends "relayed";
#  4. a wrong relay credential is refused; max_sessions (2) holds;
#  5. TURN: allocate on coturn from behind the randomising NAT, bind a
#     channel to an echo peer and exchange ChannelData; then A and B, with
#     TURN as their only relay, end "relayed" through coturn.
# Exit 0 pass, 1 fail, 77 skipped (not root / missing tools).
set -u
[[ $EUID -eq 0 ]] || { echo "skip: needs root"; exit 77; }
for c in ip nft turnserver timeout; do
  command -v "$c" >/dev/null || { echo "skip: missing $c"; exit 77; }
done
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PROBE=$BUILD_DIR/net/nat/overlay-natprobe
RELAYD=$BUILD_DIR/net/nat/overlay-relayd
for b in "$PROBE" "$RELAYD"; do [[ -x $b ]] || { echo "FAIL: $b missing"; exit 1; }; done

id=$$
SA=ontsa$id SB=ontsb$id RA=ontra$id RB=ontrb$id PB=ontpb$id
TMP=$(mktemp -d /tmp/nat_traversal.XXXXXX)
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do [[ -d /proc/$p ]] || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  for ns in "$SA" "$SB" "$RA" "$RB" "$PB"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in "$TMP"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -n 20 "$f"; }; done
  exit 1
}
# Foreground only: a backgrounded shell function would hide the real PID.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- topology ---------------------------------------------------------------
for ns in "$SA" "$SB" "$RA" "$RB" "$PB"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add lan netns "$SA" type veth peer name lan netns "$RA"
ip link add lan netns "$SB" type veth peer name lan netns "$RB"
ip link add wan netns "$RA" type veth peer name wa netns "$PB"
ip link add wan netns "$RB" type veth peer name wb netns "$PB"
ip -n "$SA" addr add 10.61.1.2/24 dev lan; ip -n "$RA" addr add 10.61.1.1/24 dev lan
ip -n "$SB" addr add 10.61.2.2/24 dev lan; ip -n "$RB" addr add 10.61.2.1/24 dev lan
ip -n "$RA" addr add 198.18.1.2/24 dev wan; ip -n "$PB" addr add 198.18.1.1/24 dev wa
ip -n "$RB" addr add 198.18.2.2/24 dev wan; ip -n "$PB" addr add 198.18.2.1/24 dev wb
ip -n "$PB" addr add 198.18.0.1/32 dev lo; ip -n "$PB" addr add 198.18.0.2/32 dev lo
for pair in "$SA lan" "$SB lan" "$RA lan" "$RA wan" "$RB lan" "$RB wan" "$PB wa" "$PB wb"; do
  set -- $pair; ip -n "$1" link set "$2" up
done
ip -n "$SA" route add default via 10.61.1.1
ip -n "$SB" route add default via 10.61.2.1
ip -n "$RA" route add default via 198.18.1.1
ip -n "$RB" route add default via 198.18.2.1
for r in "$RA" "$RB" "$PB"; do in_ns "$r" sysctl -qw net.ipv4.ip_forward=1; done

set_nat() {  # router flags ("" = port-preserving, "random,fully-random")
  local r=$1 flags=$2
  in_ns "$r" nft delete table ip ovlnat 2>/dev/null
  in_ns "$r" nft -f - <<NFT || fail "nft in $r"
table ip ovlnat {
  chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade $flags; }
}
NFT
}
set_nat "$RA" ""
set_nat "$RB" ""

# --- servers in the public namespace -----------------------------------------
echo secret-pass > "$TMP/turn.pw"
echo cluster-secret > "$TMP/cred"
echo not-the-secret > "$TMP/badcred"
ip netns exec "$PB" turnserver -n --no-cli --no-tls --no-dtls --lt-cred-mech --realm ovl.test \
  --user alice:secret-pass --listening-ip 198.18.0.1 --listening-ip 198.18.0.2 --listening-port 3478 \
  --relay-ip 198.18.0.1 --min-port 49160 --max-port 49200 --userdb "$TMP/turndb" \
  --pidfile "$TMP/turn.pid" --log-file "$TMP/turn.log" --no-stdout-log --simple-log >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$PB" "$RELAYD" --listen 198.18.0.1:3490 --credential-file "$TMP/cred" >"$TMP/relayd.log" 2>&1 &
PIDS+=($!)
ip netns exec "$PB" "$RELAYD" --listen 198.18.0.1:3491 --max-sessions 2 --credential-file "$TMP/cred" >"$TMP/relayd2.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
  in_ns "$PB" ss -Hlun | grep -q '198.18.0.2:3478' && grep -q listening "$TMP/relayd.log" \
    && grep -q listening "$TMP/relayd2.log" && break
  sleep 0.1
done
in_ns "$PB" ss -Hlun | grep -q '198.18.0.2:3478' || fail "coturn did not start"

# --- 1. STUN through the port-preserving NAT -----------------------------------
out=$(in_ns "$SA" timeout 20 "$PROBE" stun --bind 10.61.1.2:51820 198.18.0.1:3478 198.18.0.2:3478 --timeout 8)
echo "$out" >"$TMP/stun1.log"
grep -qx 'reflexive 198.18.0.1:3478 198.18.1.2:51820' <<<"$out" || fail "reflexive via stun1: $out"
grep -qx 'reflexive 198.18.0.2:3478 198.18.1.2:51820' <<<"$out" || fail "reflexive via stun2: $out"
grep -qx 'mapping endpoint-independent' <<<"$out" || fail "mapping: $out"
echo "ok 1: port-preserving NAT maps 10.61.1.2:51820 -> 198.18.1.2:51820 (endpoint-independent)"

connect_pair() {  # port tag [relay args...]: natprobe connect on A and B -> $TMP/conn_{a,b}_$tag.log
  local port=$1 tag=$2; shift 2
  local relay=("$@")
  [[ ${#relay[@]} == 0 ]] && relay=(--relay 198.18.0.1:3490 --credential-file "$TMP/cred")
  rm -f "$TMP/ca_$tag" "$TMP/cb_$tag"
  ip netns exec "$SB" timeout 45 "$PROBE" connect --bind 10.61.2.2:$port --stun 198.18.0.1:3478 \
    "${relay[@]}" --out "$TMP/cb_$tag" --peer-file "$TMP/ca_$tag" \
    --hole-punch-timeout 6 --timeout 30 >"$TMP/conn_b_$tag.log" 2>&1 &
  local pb=$!; PIDS+=($pb)
  in_ns "$SA" timeout 45 "$PROBE" connect --bind 10.61.1.2:$port --stun 198.18.0.1:3478 \
    "${relay[@]}" --out "$TMP/ca_$tag" --peer-file "$TMP/cb_$tag" \
    --hole-punch-timeout 6 --timeout 30 >"$TMP/conn_a_$tag.log" 2>&1
  local ra=$?
  wait "$pb"; local rb=$?
  [[ $ra == 0 && $rb == 0 ]] || fail "connect ($tag): exit A=$ra B=$rb"
}
connect_pair 51830 punch
grep -qx 'connection hole-punched 198.18.2.2:51830' "$TMP/conn_a_punch.log" || fail "A not hole-punched"
grep -qx 'connection hole-punched 198.18.1.2:51830' "$TMP/conn_b_punch.log" || fail "B not hole-punched"
grep -qx 'candidate server-reflexive 198.18.1.2:51830' "$TMP/conn_a_punch.log" || fail "A's reflexive candidate"
echo "ok 1b: connect planner: A and B hole-punched ($(grep '^attempt' "$TMP/conn_a_punch.log" | tail -n 1))"

# --- 2. STUN through a randomising NAT -----------------------------------------
set_nat "$RA" "random,fully-random"
set_nat "$RB" "random,fully-random"
out=$(in_ns "$SA" timeout 20 "$PROBE" stun --bind 10.61.1.2:51821 198.18.0.1:3478 198.18.0.2:3478 --timeout 8)
echo "$out" >"$TMP/stun2.log"
grep -qx 'mapping endpoint-dependent' <<<"$out" || fail "randomising NAT mapping: $out"
echo "ok 2: randomising NAT detected as endpoint-dependent"

# --- 3. two clients behind randomising NATs through overlay-relayd --------------
ip netns exec "$SB" timeout 30 "$PROBE" relay-echo --relay 198.18.0.1:3490 --credential-file "$TMP/cred" \
  --out "$TMP/b.ep" --peer-file "$TMP/a.ep" --timeout 15 >"$TMP/echo_b.log" 2>&1 &
PID_B=$!; PIDS+=($PID_B)
in_ns "$SA" timeout 30 "$PROBE" relay-echo --relay 198.18.0.1:3490 --credential-file "$TMP/cred" \
  --out "$TMP/a.ep" --peer-file "$TMP/b.ep" --ping 5 --timeout 15 >"$TMP/echo_a.log" 2>&1 \
  || fail "relay ping from A"
wait "$PID_B" || fail "relay echo on B"
grep -qx 'echoed 5/5' "$TMP/echo_a.log" || fail "relay echo count"
grep -q '^reflexive 198.18.1.2:' "$TMP/echo_a.log" || fail "relay saw A from the wrong address"
echo "ok 3: $(grep -h '^relayed' "$TMP/echo_a.log" "$TMP/echo_b.log" | tr '\n' ' ')exchanged 5 echoes"
connect_pair 51840 relay
grep -q '^connection relayed 198.18.0.1:' "$TMP/conn_a_relay.log" || fail "A not relayed"
grep -q '^connection relayed 198.18.0.1:' "$TMP/conn_b_relay.log" || fail "B not relayed"
echo "ok 3b: connect planner behind randomising NATs: $(grep '^attempt' "$TMP/conn_a_relay.log" | tail -n 1)"

# --- 4. wrong credential refused; max_sessions holds ----------------------------
out=$(in_ns "$SA" timeout 20 "$PROBE" relay-alloc --relay 198.18.0.1:3490 --credential-file "$TMP/badcred" \
  --rto-ms 100 --timeout 8)
grep -qx 'allocated 0 failed 1' <<<"$out" || fail "wrong credential: $out"
out=$(in_ns "$SA" timeout 20 "$PROBE" relay-alloc --relay 198.18.0.1:3491 --credential-file "$TMP/cred" \
  --count 4 --rto-ms 100 --timeout 8)
grep -qx 'allocated 2 failed 2' <<<"$out" || fail "max_sessions: $out"
[[ $(grep -c 'exhausted' <<<"$out") == 2 ]] || fail "refusals should say exhausted: $out"
echo "ok 4: wrong credential refused; max_sessions=2 held (2 allocated, 2 refused)"

# --- 5. TURN through coturn from behind the randomising NAT ----------------------
ip netns exec "$PB" timeout 20 "$PROBE" udp-echo --bind 198.18.0.1:7000 --timeout 12 >"$TMP/udpecho.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 30); do grep -q echoing "$TMP/udpecho.log" && break; sleep 0.1; done
out=$(in_ns "$SA" timeout 20 "$PROBE" turn --server 198.18.0.1:3478 --user alice --password-file "$TMP/turn.pw" \
  --peer 198.18.0.1:7000 --bind 10.61.1.2:0 --count 5 --timeout 10) || fail "TURN: $out"
echo "$out" >"$TMP/turn_client.log"
grep -qx 'channel bound' <<<"$out" || fail "TURN channel: $out"
grep -q '^relayed 198.18.0.1:' <<<"$out" || fail "TURN relayed address: $out"
echo "ok 5: TURN $(grep '^relayed' <<<"$out"), ChannelData echoed 5/5"
connect_pair 51850 turn --turn 198.18.0.1:3478 --turn-user alice --turn-password-file "$TMP/turn.pw"
grep -q '^connection relayed 198.18.0.1:49' "$TMP/conn_a_turn.log" || fail "A not relayed through TURN"
grep -q '^connection relayed 198.18.0.1:49' "$TMP/conn_b_turn.log" || fail "B not relayed through TURN"
echo "ok 5b: connect planner falls back to TURN: $(grep '^connection' "$TMP/conn_a_turn.log")"

# relayd kept count of what it refused.
kill "${PIDS[1]}" "${PIDS[2]}"
for _ in $(seq 1 30); do grep -q stopping "$TMP/relayd.log" && break; sleep 0.1; done
grep -q 'dropped_auth=[1-9]' "$TMP/relayd.log" || fail "relayd did not count the forged allocations"
echo "PASS: $(grep stopping "$TMP/relayd.log")"
exit 0
