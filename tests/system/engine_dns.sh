#!/usr/bin/env bash
# overlayd's DNS actor answers registered names on an extra listen address,
# forwards the rest to an upstream, and forgets unregistered names at once.
#
#   ns D (our daemon)                              ns U (upstream)
#   overlayd --dns-listen 10.98.0.1:53             dnsmasq 10.98.0.2:53
#            --dns-upstream 10.98.0.2:53             address=/ext.test/192.0.2.7
#   da0 10.98.0.1/24 ------------ veth ----------- db0 10.98.0.2/24
#   dig runs in D against 10.98.0.1
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"  # grep -q without the pipefail SIGPIPE race
. "$(dirname "$0")/lib/procs.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
tag=ed$$
D=ovl${tag}d U=ovl${tag}u
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()
cleanup() {
  stop_all "${pids[@]}"
  ip netns del "$D" 2>/dev/null || true
  ip netns del "$U" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$D"; ip netns add "$U"
ip link add da0 netns "$D" type veth peer name db0 netns "$U"
ip -n "$D" addr add 10.98.0.1/24 dev da0
ip -n "$U" addr add 10.98.0.2/24 dev db0
for n in "$D" "$U"; do ip -n "$n" link set lo up; done
ip -n "$D" link set da0 up; ip -n "$U" link set db0 up

ip netns exec "$U" dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
  --listen-address=10.98.0.2 --port=53 --address=/ext.test/192.0.2.7 > "$tmp/dnsmasq.log" 2>&1 &
pids+=($!)
ip netns exec "$D" "$BUILD_DIR/overlayd" --data-dir "$tmp/d" --socket "$tmp/ipc.sock" --http off \
  --firewall-table "ovl_$tag" --log-level warn --dns-domain corp \
  --dns-listen 10.98.0.1:53 --dns-upstream 10.98.0.2:53 > "$tmp/d.log" 2>&1 &
pids+=($!)
ctl() { "$BUILD_DIR/overlayctl" --socket "$tmp/ipc.sock" --timeout-ms 10000 call "$1"; }
q() { ip netns exec "$D" dig +time=3 +tries=3 @10.98.0.1 "$@"; }

ctl '{"op":"register_dns","name":"api","ip":"10.200.0.7"}'
[ "$(q +short api.corp A)" = 10.200.0.7 ]
[ "$(q +short API.Corp. A)" = 10.200.0.7 ]          # case-insensitive, absolute
[ "$(q +short -x 10.200.0.7)" = api.corp. ]          # PTR for what it knows
q nope.corp A | grep -q 'status: NXDOMAIN'
# Forwarded outside the domain (upstream in another namespace).
for _ in $(seq 30); do [ "$(q +short www.ext.test A)" = 192.0.2.7 ] && break; sleep 0.2; done
[ "$(q +short www.ext.test A)" = 192.0.2.7 ]
# Unregister: gone with the next query, no restart.
ctl '{"op":"unregister_dns","name":"api"}'
q api.corp A | grep -q 'status: NXDOMAIN'
# Upstream down: SERVFAIL.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
q www.ext.test A | grep -q 'status: SERVFAIL'
ctl '{"op":"shutdown"}'
for _ in $(seq 100); do kill -0 "${pids[1]}" 2>/dev/null || break; sleep 0.1; done
wait "${pids[1]}"
pids=()
echo "overlay DNS through the daemon: answers, forwards, forgets"
