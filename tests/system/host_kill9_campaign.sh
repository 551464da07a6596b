#!/usr/bin/env bash
# The kill -9 campaign. A scripted agent sequence (global overlay with a
# peer, four services of which one dedicated and two isolated, containers
# attached with isolation, a service-scoped peer) runs against a daemon
# armed to SIGKILL itself right after its Nth journal write
# (OVERLAYD_CRASH_AFTER_JOURNAL_WRITES, net/host/mutator.hpp) — the moment
# the journal says more than the kernel has. N takes 40 values spread over
# the whole sequence. After each kill the daemon restarts on the same data
# dir and shuts down: the node and the containers must equal their snapshot
# from before (links, addresses, routes, nft, sysctls; the journal, which
# lists the drop-in files, empty). A
# dedicated identity, once answered, must be the same after every later kill.
#
#   namespace N (node)                                 data dir D (kept)
#   +--------------------------------------------------+
#   | overlayd: zl-..-g  web zl-..-b  iso zl-..-b       |
#   |           db (dedicated: zl-..-d + bridge)        |
#   +-----|--------------|--------------|---------------+
#      ns C1 (web)    ns C2 (iso,red)  ns C3 (iso,blue)
#      ns C4 (db)     ns C5 (web)      ns C6 (iso,red)
#      ns C7..C9 (api: isolated, red/blue)
#   and back down: detach, remove peers, tear services and the overlay down
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=kc$$
N=ovl${tag}n
T=ovl_$tag
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
dir=$tmp/d
pids=()
cns=()
cleanup() {
  stop_all "${pids[@]}"
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
container() {  # name -> $cpid
  ip netns add "$1"; cns+=("$1")
  ip netns exec "$1" sleep 3600 > /dev/null 2>&1 &
  cpid=$!; pids+=("$cpid")
}
snapshot() {
  ovl_snapshot "$N"
  ip netns exec "$N" sh -c 'for f in /proc/sys/net/ipv6/conf/*/forwarding; do echo "$f $(cat "$f")"; done'
  # Files: the drop-ins under /etc are shared with every other daemon on
  # this host (parallel test runs), so they are checked through the journal
  # instead: after a shutdown it must list nothing (the data dir is ours).
  [ ! -s "$dir/host-journal.json" ] || grep -q '"changes": \[\]' "$dir/host-journal.json" ||
    { echo "journal:"; cat "$dir/host-journal.json"; }
  for c in "${cns[@]}"; do echo "$c"; ip -n "$c" -o link show | awk -F': ' '{print $2}'; done
}

ip netns add "$N"
ip -n "$N" link set lo up
ip netns exec "$N" sysctl -qw net.ipv6.conf.default.accept_dad=0
container ${N}c1; c1=$cpid
container ${N}c2; c2=$cpid
container ${N}c3; c3=$cpid
container ${N}c4; c4=$cpid
container ${N}c5; c5=$cpid
container ${N}c6; c6=$cpid
container ${N}c7; c7=$cpid
container ${N}c8; c8=$cpid
container ${N}c9; c9=$cpid
mkdir -m 0700 "$dir" "$tmp/uapi"
baseline=$(snapshot)
peer_key=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
dkey=""  # the dedicated identity, once answered

# The agent's sequence; stops at the first request the daemon does not answer.
sequence() {
  local reqs=(
    '{"op":"set_local_node_id","node_id":1}'
    "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}"
    "{\"op\":\"add_peer\",\"public_key\":\"$peer_key\",\"endpoint\":\"10.99.0.2:51820\",\"allowed_ips\":\"10.200.2.0/28\",\"persistent_keepalive_secs\":25}"
    '{"op":"setup_service_overlay","service":"web"}'
    '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}'
    '{"op":"setup_service_overlay","service":"iso","mode":"isolated"}'
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c1},\"service\":\"web\"}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c2},\"service\":\"iso\",\"isolation_network\":\"red\"}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c3},\"service\":\"iso\",\"isolation_network\":\"blue\"}"
    "{\"op\":\"add_peer\",\"public_key\":\"$peer_key\",\"endpoint\":\"10.99.0.2:51821\",\"allowed_ips\":\"10.200.3.0/26\",\"persistent_keepalive_secs\":25,\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c4},\"service\":\"db\"}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c5},\"service\":\"web\"}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c6},\"service\":\"iso\",\"isolation_network\":\"red\"}"
    # ... and the way down: every record removed is a journal write too.
    "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c2}}"
    "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c5}}"
    "{\"op\":\"remove_peer\",\"pubkey\":\"$peer_key\",\"scope\":{\"scope\":\"service\",\"service\":\"db\"}}"
    '{"op":"teardown_service_overlay","service":"web"}'
    '{"op":"setup_service_overlay","service":"web"}'
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c5},\"service\":\"web\"}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c2},\"service\":\"iso\",\"isolation_network\":\"blue\"}"
    '{"op":"teardown_service_overlay","service":"iso"}'
    '{"op":"setup_service_overlay","service":"api","mode":"isolated"}'
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c7},\"service\":\"api\",\"isolation_network\":\"red\"}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c8},\"service\":\"api\",\"isolation_network\":\"blue\"}"
    "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c9},\"service\":\"api\",\"isolation_network\":\"blue\"}"
    "{\"op\":\"detach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$c8}}"
    "{\"op\":\"remove_peer\",\"pubkey\":\"$peer_key\"}"
    '{"op":"teardown_global_overlay"}'
  )
  local r out rc
  for r in "${reqs[@]}"; do
    rc=0
    out=$("$C" --socket "$dir/ipc.sock" --timeout-ms 300 call "$r" 2> /dev/null) || rc=$?
    [ "$rc" = 2 ] && return 0   # no answer: the daemon is gone
    if [ "$rc" != 0 ]; then
      # An `err` answer is fine only from a daemon about to die (the crash
      # point fired mid-request); from a live one it is a broken sequence.
      sleep 0.3
      if kill -0 "$ovl_pid" 2> /dev/null; then echo "request $r answered: $out"; exit 1; fi
      return 0
    fi
    check_identity "$out"
  done
}
check_identity() {  # a response: a dedicated answer must carry the one identity
  grep -q '"mode":"dedicated"' <<< "$1" || return 0
  # (sed, not python: an interpreter start costs seconds on a loaded host)
  local k; k=$(sed -nE 's/.*"wg_public_key":"([^"]+)".*/\1/p' <<< "$1")
  [ -n "$k" ] || { echo "no wg_public_key in $1"; exit 1; }
  if [ -z "$dkey" ]; then dkey=$k; echo "dedicated identity: $dkey"; fi
  [ "$k" = "$dkey" ] || { echo "dedicated identity changed: $dkey -> $k"; exit 1; }
}

# Dry run: how many journal writes the whole sequence makes.
OVERLAYD_CRASH_AFTER_JOURNAL_WRITES=1000000 OVL_LOG_LEVEL=debug ovl_start "$N" "$dir" --firewall-table "$T" --uapi-dir "$tmp/uapi"
pids+=("$ovl_pid")
sequence
writes=$(grep -c "crash point: journal write" "$dir.log")
ovl_ctl "$dir" '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "$ovl_pid"
[ "$(snapshot)" = "$baseline" ] || { echo "dry run did not revert cleanly"; diff <(echo "$baseline") <(snapshot); exit 1; }
echo "the sequence makes $writes journal writes"
[ "$writes" -ge 40 ] || { echo "fewer than 40 crash points"; exit 1; }

kills=0
start=$SECONDS
points=${KC_POINTS:-}   # (debugging: KC_POINTS="24 25" runs only those)
if [ -z "$points" ]; then
  for i in $(seq 0 39); do points+=" $(( 1 + i * (writes - 1) / 39 ))"; done   # 40 points, first write to last
fi
for n in $points; do
  : > "$dir.log"
  OVERLAYD_CRASH_AFTER_JOURNAL_WRITES=$n OVL_LOG_LEVEL=warn ovl_start "$N" "$dir" --firewall-table "$T" --uapi-dir "$tmp/uapi"
  pid=$ovl_pid; pids+=("$pid")
  sequence
  if ! ovl_wait_gone "$pid" 50; then echo "point $n: the daemon did not crash"; exit 1; fi
  { wait "$pid"; } 2> /dev/null || true
  kills=$((kills + 1))
  # Restart on the same data dir (recovery), then a clean shutdown.
  OVL_LOG_LEVEL=warn ovl_start "$N" "$dir" --firewall-table "$T" --uapi-dir "$tmp/uapi"
  pid=$ovl_pid; pids+=("$pid")
  # (The identity is checked by the next run's setup of db, which every
  # crash point but the first few reaches, and once more at the end.)
  ovl_ctl "$dir" '{"op":"shutdown"}' > /dev/null
  ovl_wait_gone "$pid"
  now=$(snapshot)
  if [ "$now" != "$baseline" ]; then
    echo "kill at journal write $n: the node differs from its snapshot after restart + shutdown"
    diff <(echo "$baseline") <(echo "$now") || true
    cat "$dir.log"
    exit 1
  fi
done
elapsed=$((SECONDS - start))
# The identity after the last kill: a restarted daemon answers the same key.
OVL_LOG_LEVEL=warn ovl_start "$N" "$dir" --firewall-table "$T" --uapi-dir "$tmp/uapi"
pid=$ovl_pid; pids+=("$pid")
ovl_ctl "$dir" '{"op":"set_local_node_id","node_id":1}' > /dev/null
ovl_ctl "$dir" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}" > /dev/null
[ -n "$dkey" ] || { echo "the dedicated setup was never answered"; exit 1; }
check_identity "$(ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')"
ovl_ctl "$dir" '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "$pid"
[ "$(snapshot)" = "$baseline" ]
echo "$kills kills over $writes journal writes in ${elapsed}s; every restart + shutdown left the node as before"
[ "$elapsed" -le 180 ] || { echo "campaign took ${elapsed}s (> 180)"; exit 1; }
