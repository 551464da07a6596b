#!/usr/bin/env bash
# dataplane.sh - our userspace WireGuard (overlay-wg) against wireguard-go,
# in one run, on the topology of wg-baseline.sh:
#
#   netns $NS_A                                 netns $NS_B
#   +------------------------------+            +------------------------------+
#   | iperf3 -c                    |            | iperf3 -s                    |
#   | wg TUN $WG_A 10.99.0.1/24    |            | wg TUN $WG_B 10.99.0.2/24    |
#   |   (wireguard-go, then ours)  |            |   (wireguard-go, then ours)  |
#   | $VETH_A 192.168.77.1/24 -----+---veth-----+ $VETH_B 192.168.77.2/24      |
#   +------------------------------+            +------------------------------+
#
# For each implementation (wireguard-go pair, then overlay-wg pair): TCP 1
# stream, TCP 4 streams, UDP (-b 0, payload 1392 = 1420 - 28, no fragments),
# each with the CPU used by the device process on each side. Last line:
# ratios ours / wireguard-go.
#
# Needs root, wireguard-go, wg, iperf3, jq, bc, ping. Nothing outside the
# namespaces it creates is touched; everything is removed on exit.
# Usage: sudo BUILD_DIR=/work/main/build bench/dataplane.sh   (DUR=10 default)
#        OWG_ARGS=--no-pin ... passes extra flags to both overlay-wg processes.
set -euo pipefail

id=$$
NS_A=dpa$id NS_B=dpb$id VETH_A=dpva$id VETH_B=dpvb$id WG_A=dpwa$id WG_B=dpwb$id
UL_A=192.168.77.1 UL_B=192.168.77.2 OL_A=10.99.0.1 OL_B=10.99.0.2
PORT_A=51820 PORT_B=51821 WG_MTU=1420
DUR=${DUR:-10}
UDP_LEN=${UDP_LEN:-1392}
IPERF_PORT=5201
BUILD_DIR=${BUILD_DIR:-/work/main/build}
OWG=$BUILD_DIR/net/wg/overlay-wg
read -r -a OWG_ARGS <<<"${OWG_ARGS:-}"
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_PCT=${QUIET_PCT:-15}
STATE=$(mktemp -d /tmp/dataplane.XXXXXX)
PIDS=()

log() { printf '[dataplane] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

stop_pid() {
  local p=$1
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 30); do [[ -d /proc/$p ]] || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
}
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
  rm -rf "$STATE"
}
for c in ip wireguard-go wg iperf3 jq bc ping timeout; do
  command -v "$c" >/dev/null || die "missing command: $c"
done
[[ $EUID -eq 0 ]] || die "must run as root"
[[ -x $OWG ]] || die "$OWG missing (ninja -C \$BUILD_DIR net/wg/overlay-wg)"
trap cleanup EXIT
trap 'exit 130' INT TERM

nsA() { ip netns exec "$NS_A" "$@"; }
nsB() { ip netns exec "$NS_B" "$@"; }

ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B"
nsA ip link set lo up; nsB ip link set lo up
nsA ip addr add "$UL_A/24" dev "$VETH_A"; nsB ip addr add "$UL_B/24" dev "$VETH_B"
nsA ip link set "$VETH_A" up; nsB ip link set "$VETH_B" up
timeout 10 bash -c "until ip netns exec $NS_A ping -c1 -W1 $UL_B >/dev/null 2>&1; do sleep 0.2; done" \
  || die "veth ping failed"
# `ip netns exec` execs: $! is iperf3 itself (a function would give a subshell).
ip netns exec "$NS_B" iperf3 -s -p "$IPERF_PORT" >"$STATE/iperf3-server.log" 2>&1 &
PIDS+=($!)
timeout 5 bash -c "until ip netns exec $NS_B ss -ltn | grep -q ':$IPERF_PORT '; do sleep 0.1; done" \
  || die "iperf3 server did not start"

umask 077
wg genkey >"$STATE/a.key"; wg pubkey <"$STATE/a.key" >"$STATE/a.pub"
wg genkey >"$STATE/b.key"; wg pubkey <"$STATE/b.key" >"$STATE/b.pub"
umask 022

HZ=$(getconf CLK_TCK)
cpu_total() { awk '/^cpu / {s=0; for (i=2;i<=NF;i++) s+=$i; print s, $5+$6}' /proc/stat; }
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) t0 i0 t1 i1 busy
  while :; do
    read -r t0 i0 < <(cpu_total); sleep 1; read -r t1 i1 < <(cpu_total)
    busy=$(( 100 * ((t1 - t0) - (i1 - i0)) / (t1 - t0 > 0 ? t1 - t0 : 1) ))
    (( busy < QUIET_PCT )) && return 0
    (( SECONDS >= deadline )) && { log "host still ${busy}% busy, measuring anyway"; return 0; }
  done
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_iperf NAME [iperf3 args...] -> $STATE/NAME.json and $STATE/NAME.cpu ("cpuA cpuB")
run_iperf() {
  local name=$1 a0 a1 b0 b1 t0 t1 el; shift
  wait_quiet
  a0=$(ticks "$PID_A"); b0=$(ticks "$PID_B"); t0=$(date +%s.%N)
  timeout $((DUR + 20)) ip netns exec "$NS_A" iperf3 -c "$OL_B" -p "$IPERF_PORT" -t "$DUR" -J "$@" \
    >"$STATE/$name.json" || { cat "$STATE/$name.json" >&2; die "iperf3 $name failed"; }
  t1=$(date +%s.%N); a1=$(ticks "$PID_A"); b1=$(ticks "$PID_B")
  el=$(echo "$t1 - $t0" | bc -l)
  echo "$(echo "scale=0; 100 * ($a1 - $a0) / $HZ / $el" | bc -l)" \
       "$(echo "scale=0; 100 * ($b1 - $b0) / $HZ / $el" | bc -l)" >"$STATE/$name.cpu"
}
tcp_gbps() { jq -r '.end.sum_received.bits_per_second / 1e9 | .*100|round/100' "$STATE/$1.json"; }
udp_rx_gbps() { jq -r '(.end.sum.bits_per_second * (1 - .end.sum.lost_percent/100)) / 1e9 | .*100|round/100' "$STATE/$1.json"; }
udp_loss() { jq -r '.end.sum.lost_percent | .*10|round/10' "$STATE/$1.json"; }

# start_pair IMPL: starts the device process in each namespace, configures
# it with `wg` (same keys, ports, addresses for both implementations).
start_pair() {
  local impl=$1 s
  if [[ $impl == wggo ]]; then
    # `ip netns exec` execs, so $! is the device process itself (for CPU).
    LOG_LEVEL=error ip netns exec "$NS_A" wireguard-go -f "$WG_A" >"$STATE/$impl-a.log" 2>&1 &
    PID_A=$!
    LOG_LEVEL=error ip netns exec "$NS_B" wireguard-go -f "$WG_B" >"$STATE/$impl-b.log" 2>&1 &
    PID_B=$!
  else
    ip netns exec "$NS_A" "$OWG" --no-link "${OWG_ARGS[@]}" "$WG_A" >"$STATE/$impl-a.log" 2>&1 &
    PID_A=$!
    ip netns exec "$NS_B" "$OWG" --no-link "${OWG_ARGS[@]}" "$WG_B" >"$STATE/$impl-b.log" 2>&1 &
    PID_B=$!
  fi
  PIDS+=("$PID_A" "$PID_B")
  for s in "$WG_A" "$WG_B"; do
    timeout 5 bash -c "until [[ -S /var/run/wireguard/$s.sock ]]; do sleep 0.1; done" \
      || { cat "$STATE/$impl"-?.log >&2; die "UAPI socket $s did not appear ($impl)"; }
  done
  nsA wg set "$WG_A" listen-port "$PORT_A" private-key "$STATE/a.key" \
    peer "$(cat "$STATE/b.pub")" endpoint "$UL_B:$PORT_B" allowed-ips "$OL_B/32"
  nsB wg set "$WG_B" listen-port "$PORT_B" private-key "$STATE/b.key" \
    peer "$(cat "$STATE/a.pub")" endpoint "$UL_A:$PORT_A" allowed-ips "$OL_A/32"
  nsA ip addr add "$OL_A/24" dev "$WG_A"; nsB ip addr add "$OL_B/24" dev "$WG_B"
  nsA ip link set "$WG_A" mtu "$WG_MTU" up; nsB ip link set "$WG_B" mtu "$WG_MTU" up
  timeout 15 ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 "$OL_B" >/dev/null \
    || { cat "$STATE/$impl"-?.log >&2; die "ping through the $impl tunnel failed"; }
}
stop_pair() {
  stop_pid "$PID_A"; stop_pid "$PID_B"
  nsA ip link del "$WG_A" 2>/dev/null || true
  nsB ip link del "$WG_B" 2>/dev/null || true
}

measure() {  # IMPL
  local impl=$1
  log "$impl: TCP 1 stream (${DUR}s)"; run_iperf "${impl}_tcp"
  log "$impl: TCP 4 streams (${DUR}s)"; run_iperf "${impl}_tcp4" -P 4
  log "$impl: UDP (${DUR}s, -b 0 -l $UDP_LEN)"; run_iperf "${impl}_udp" -u -b 0 -l "$UDP_LEN"
}

for impl in wggo ours; do
  log "starting the $impl pair"
  start_pair "$impl"
  measure "$impl"
  echo "===== wg show ($impl, $NS_A) ====="; nsA wg show "$WG_A"
  stop_pair
done

ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
echo "===== results (DUR=${DUR}s; CPU = % of one core, sender side A / receiver side B) ====="
for impl in wggo ours; do
  echo "$impl TCP 1 stream : $(tcp_gbps ${impl}_tcp) Gbit/s; cpu $(cut -d' ' -f1 $STATE/${impl}_tcp.cpu)%/$(cut -d' ' -f2 $STATE/${impl}_tcp.cpu)%"
  echo "$impl TCP 4 streams: $(tcp_gbps ${impl}_tcp4) Gbit/s; cpu $(cut -d' ' -f1 $STATE/${impl}_tcp4.cpu)%/$(cut -d' ' -f2 $STATE/${impl}_tcp4.cpu)%"
  echo "$impl UDP -l $UDP_LEN : rx $(udp_rx_gbps ${impl}_udp) Gbit/s (loss $(udp_loss ${impl}_udp)%); cpu $(cut -d' ' -f1 $STATE/${impl}_udp.cpu)%/$(cut -d' ' -f2 $STATE/${impl}_udp.cpu)%"
done
echo "kernel: $(uname -r); cpus: $(nproc); loadavg: $(cut -d' ' -f1-3 /proc/loadavg); overlay-wg args: ${OWG_ARGS[*]:-(none)}"
echo "ratio_tcp=$(ratio "$(tcp_gbps ours_tcp)" "$(tcp_gbps wggo_tcp)") ratio_tcp4=$(ratio "$(tcp_gbps ours_tcp4)" "$(tcp_gbps wggo_tcp4)") ratio_udp=$(ratio "$(udp_rx_gbps ours_udp)" "$(udp_rx_gbps wggo_udp)") ours_tcp_gbps=$(tcp_gbps ours_tcp) wggo_tcp_gbps=$(tcp_gbps wggo_tcp)"
