# container NAME: a "container" for attach tests: a sleep process in a fresh
# network namespace NAME. Sets $cpid and appends to the caller's `pids` and
# `cns` arrays (for its cleanup). Returns only once the process is inside
# the namespace: `ip netns exec` enters it after fork, and an attach racing
# that would move eth0 into whatever namespace the process was still in.
container() {
  ip netns add "$1"; cns+=("$1")
  ip netns exec "$1" sleep 600 > /dev/null 2>&1 &
  cpid=$!
  disown "$cpid" 2> /dev/null || true  # no "Killed" job notice at cleanup
  pids+=($cpid)
  local want; want=$(stat -L -c %i "/run/netns/$1")
  for _ in $(seq 200); do
    [ "$(stat -L -c %i "/proc/$cpid/ns/net" 2>/dev/null)" = "$want" ] && return 0
    sleep 0.01
  done
  echo "container $1 never entered its namespace"
  return 1
}
