#!/usr/bin/env bash
# A restart adopts what the previous run made instead of cutting containers
# off. The daemon is killed with kill -9 while c1 pings c2 across the web
# bridge; it restarts on the same data dir, and the agent's re-sent setups
# and attaches answer what they answered before (same bridges, same
# addresses, same dedicated key) without touching the containers. The ping
# never loses a packet. Isolation holds through the restart. c3, which the
# agent does not attach again, is detached when the grace period ends, and
# the log says so. Then --keep-on-exit: SIGTERM leaves everything in place,
# the next start adopts it again, and a `shutdown` request finally reverts
# the namespace to exactly what it was before the first start.
#
#   namespace N (the node)                    container namespaces
#   +-------------------------------------+   c1 (web, join_global)  c2 (web)
#   |  overlayd --data-dir D              |   c3 (web; abandoned)
#   |   zl-..-g   global, 10.200.0.0/16   |   c4 (iso, network red)
#   |   zl-..web-b  zl-..iso-b            |   c5 (iso, network blue)
#   |   zl-..db-b + dedicated device      |   c6 (db, dedicated)
#   +-------------------------------------+
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=ra$$
N=ovl${tag}n
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=() cns=()
cleanup() {
  stop_all "${pids[@]}"
  [ -n "${TEST_LOG_DIR:-}" ] && cp "$tmp/d.log" "$TEST_LOG_DIR/daemon_restart_adopt.overlayd.log" 2>/dev/null
  # Everything the daemon made lives in N (and dies with it), except the
  # UAPI sockets, which are under $tmp.
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$(dirname "$0")/lib/container.bash"  # container NAME -> $cpid
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
in_c() { local c=$1; shift; ip netns exec "$c" "$@"; }

ip netns add "$N"
ip -n "$N" link set lo up
before=$(ovl_snapshot "$N")
dir=$tmp/d
mkdir -m 0700 "$dir" "$tmp/wg"
grace=15
start() { ovl_start "$N" "$dir" --firewall-table "ovl_$tag" --uapi-dir "$tmp/wg" --restart-grace "$grace" "$@"; pids+=("$ovl_pid"); }
ctl() { ovl_ctl "$dir" "$1"; }

# The agent's sequence; run again after every restart, as the agent does
# when it sees the daemon come back. Prints "name ip" lines.
for i in 1 2 3 4 5 6; do container ${N}c$i; eval "p$i=$cpid"; done
agent() {  # which containers to attach: a list of numbers
  ctl '{"op":"set_local_node_id","node_id":1}' > /dev/null
  echo "global $(field "$(ctl "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/24\",\"wg_port\":51820}")" name)"
  echo "web $(field "$(ctl '{"op":"setup_service_overlay","service":"web"}')" name)"
  echo "iso $(field "$(ctl '{"op":"setup_service_overlay","service":"iso","mode":"isolated"}')" name)"
  local db; db=$(ctl '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}')
  echo "db $(field "$db" name) $(field "$db" wg_public_key)"
  local i pid body
  for i in "$@"; do
    eval "pid=\$p$i"
    case $i in
      1) body="\"service\":\"web\",\"join_global\":true" ;;
      2|3) body="\"service\":\"web\"" ;;
      4) body="\"service\":\"iso\",\"isolation_network\":\"red\"" ;;
      5) body="\"service\":\"iso\",\"isolation_network\":\"blue\"" ;;
      6) body="\"service\":\"db\"" ;;
    esac
    echo "c$i $(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$pid},$body}")" ip)"
  done
}
ip_of() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

start
agent 1 2 3 4 5 6 > "$tmp/first"
cat "$tmp/first"
# Six containers, six distinct addresses, none of them the node's.
[ "$(grep -c '^c' "$tmp/first")" = 6 ]
[ "$(awk '/^c/ { print $2 }' "$tmp/first" | sort -u | wc -l)" = 6 ]
ip1=$(ip_of c1 "$tmp/first") ip2=$(ip_of c2 "$tmp/first") ip5=$(ip_of c5 "$tmp/first")
[ "$ip1" != "$ip2" ]
in_c ${N}c1 ping -c 2 -W 2 -i 0.2 "$ip2" > /dev/null
if in_c ${N}c4 ping -c 2 -W 1 -i 0.2 "$ip5" > /dev/null; then echo "isolation breached before the restart"; exit 1; fi
echo "ok: six containers attached on three services; c1 reaches c2, red does not reach blue"

# --- kill -9 while c1 pings c2 --------------------------------------------------
in_c ${N}c1 ping -c 60 -i 0.1 -W 1 "$ip2" > "$tmp/ping" 2>&1 &
pinger=$!
sleep 1
kill -9 "${pids[-1]}"
ovl_wait_gone "${pids[-1]}"
start
agent 1 2 4 5 6 > "$tmp/second"   # c3 is not claimed again
# c3 is still there during the grace period (gone after it, below).
ip -n "$N" link show "veth-$p3-s" > /dev/null
in_c ${N}c3 ip link show eth0 > /dev/null
wait "$pinger" || { cat "$tmp/ping"; echo "ping through the restart failed"; exit 1; }
grep -q ' 0% packet loss' "$tmp/ping" || { cat "$tmp/ping"; echo "packets lost through the restart"; exit 1; }
echo "ok: 60 pings c1 -> c2 through kill -9 and restart, none lost"
# Every re-sent request answered as before (c3 aside).
diff <(grep -v '^c3 ' "$tmp/first") "$tmp/second"
grep -q "adopted pid $p1" "$dir.log"
echo "ok: the re-sent setups and attaches answered the same bridges, addresses and dedicated key"
if in_c ${N}c4 ping -c 2 -W 1 -i 0.2 "$ip5" > /dev/null; then echo "isolation breached after the restart"; exit 1; fi
in_c ${N}c1 ping -c 2 -W 2 -i 0.2 "$ip2" > /dev/null
echo "ok: isolation held through the restart"
# A retry of an adopted attach answers the same again.
[ "$(field "$(ctl "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$p2},\"service\":\"web\"}")" ip)" = "$ip2" ]

# c3 goes when the grace period ends.
for _ in $(seq $(( (grace + 10) * 10 ))); do
  ip -n "$N" link show "veth-$p3-s" > /dev/null 2>&1 || break
  sleep 0.1
done
if ip -n "$N" link show "veth-$p3-s" > /dev/null 2>&1; then echo "c3 still attached after the grace period"; exit 1; fi
if in_c ${N}c3 ip link show eth0 > /dev/null 2>&1; then echo "c3 kept its eth0"; exit 1; fi
grep -q "service web pid $p3 .* was not attached again by the agent; detached" "$dir.log"
# Nothing the agent claimed again was reverted (our nft table included:
# reverting it would open isolation until drift repair put it back).
if grep "was not claimed again; reverted" "$dir.log" | grep -v "veth-$p3-"; then
  echo "a claimed host change was reverted at the end of the grace period"; exit 1
fi
in_c ${N}c1 ping -c 2 -W 2 -i 0.2 "$ip2" > /dev/null
echo "ok: the unclaimed c3 was detached when the grace period ended, and the log says so"

# --- --keep-on-exit: SIGTERM leaves everything for the next start -------------------
kill -TERM "${pids[-1]}"
ovl_wait_gone "${pids[-1]}"
start --keep-on-exit
agent 1 2 4 5 6 > "$tmp/third"
diff "$tmp/second" "$tmp/third"
in_c ${N}c1 ping -c 100 -i 0.05 -W 1 "$ip2" > "$tmp/ping2" 2>&1 &
pinger=$!
sleep 1
kill -TERM "${pids[-1]}"
ovl_wait_gone "${pids[-1]}"
grep -q "exiting without teardown" "$dir.log"
ip -n "$N" link show "veth-$p1-s" > /dev/null
start
agent 1 2 4 5 6 > "$tmp/fourth"
wait "$pinger" || { cat "$tmp/ping2"; echo "ping through the keep-on-exit restart failed"; exit 1; }
grep -q ' 0% packet loss' "$tmp/ping2" || { cat "$tmp/ping2"; echo "packets lost through --keep-on-exit"; exit 1; }
diff "$tmp/second" "$tmp/fourth"
echo "ok: --keep-on-exit: SIGTERM kept the node; the next start adopted it, no ping lost"

# --- shutdown still reverts everything ----------------------------------------------
ctl '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "${pids[-1]}"
after=$(ovl_snapshot "$N")
if [ "$before" != "$after" ]; then
  echo "namespace differs after shutdown:"; diff <(echo "$before") <(echo "$after") || true; exit 1
fi
[ -z "$(ls "$dir/attachments" 2>/dev/null)" ]
echo "ok: shutdown reverted the namespace to its snapshot from before the first start"
echo "restart adoption: containers kept their network through kill -9 and --keep-on-exit restarts"
