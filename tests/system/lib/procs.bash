# Sourced by system tests. stop_all PID...: SIGTERM first, so an overlayd
# reverts what it made and removes its sockets (the UAPI ones live in the
# host's /var/run/wireguard even when the daemon runs in a namespace); after
# 5 s whatever is left gets SIGKILL. Safe under set -e (it runs in EXIT traps).
stop_all() {
  local p alive
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    (( alive )) || return 0
    sleep 0.1
  done
  for p in "$@"; do kill -9 "$p" 2>/dev/null || true; done
  return 0
}
