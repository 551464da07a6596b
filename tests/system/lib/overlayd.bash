# Sourced by the daemon system tests: start an overlayd in a namespace, talk
# to it, snapshot a namespace. Needs: $D (overlayd), $C (overlayctl), $tmp.
#
#   ovl_start NS DIR [extra flags...]   sets $ovl_pid; waits for the socket
#                                       (HTTP: $OVL_HTTP, default off;
#                                        log level: $OVL_LOG_LEVEL, info)
#   ovl_ctl DIR JSON                    one request over DIR's socket
#   ovl_snapshot NS                     links, addresses, routes, nft, ip_forward
#   ovl_wait_gone PID [tenths]          0 once PID has exited

ovl_start() {
  local ns=$1 dir=$2; shift 2
  ip netns exec "$ns" "$D" --data-dir "$dir" --socket "$dir/ipc.sock" --http "${OVL_HTTP:-off}" \
    --log-level "${OVL_LOG_LEVEL:-info}" "$@" >> "$dir.log" 2>&1 &
  ovl_pid=$!
  local _
  for _ in $(seq 100); do
    "$C" --socket "$dir/ipc.sock" --timeout-ms 200 status > /dev/null 2>&1 && return 0
    kill -0 "$ovl_pid" 2>/dev/null || { echo "overlayd exited at start:"; tail -n 20 "$dir.log"; return 1; }
    sleep 0.1
  done
  echo "overlayd did not answer on $dir/ipc.sock"; tail -n 20 "$dir.log"; return 1
}

ovl_ctl() { "$C" --socket "$1/ipc.sock" --timeout-ms 10000 call "$2"; }

# IPv6 link-local addresses and their routes come and go with DAD on their
# own schedule; they are the kernel's, not ours, so they are left out.
# (No python here: the campaign takes a snapshot per kill, and a loaded CI
# host takes seconds to start an interpreter.)
ovl_snapshot() {
  ip -n "$1" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "link", $2 }' | sort
  ip -n "$1" -o addr show | awk '$4 !~ /^fe80/ { print "addr", $2, $4 }' | sort
  ip -n "$1" route show table all | grep -v -e 'fe80::' -e '^multicast ff00::/8' | sort
  ip netns exec "$1" nft list ruleset
  ip netns exec "$1" cat /proc/sys/net/ipv4/ip_forward
}

ovl_wait_gone() {
  local pid=$1 n=${2:-100} _
  for _ in $(seq "$n"); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
