#!/usr/bin/env bash
# overlay-dnsd forwarding names outside its domain to an upstream resolver
# (dnsmasq) in another namespace; upstream down → SERVFAIL; overlay names
# still answered locally while the upstream is down.
#
#   namespace D (dn$$d)                      namespace U (dn$$u)
#   overlay-dnsd 10.203.0.1:53   veth       dnsmasq 10.203.0.2:53
#   dig @10.203.0.1  ----------- dn$$a === dn$$b ---------------
#                                           ext.test → 192.0.2.7
set -u
[ "$(id -u)" = 0 ] || exit 77
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
DNSD="$BUILD_DIR/net/dns/overlay-dnsd"
[ -x "$DNSD" ] || { echo "missing $DNSD"; exit 1; }
command -v dig >/dev/null || { echo "missing dig"; exit 1; }
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { echo "missing dnsmasq"; exit 1; }

D=dn$$d U=dn$$u
TMP=$(mktemp -d /tmp/ovl-dns-forward.XXXXXX)
dnsd="" upstream=""
fail=0
cleanup() {
  [ -n "$dnsd" ] && kill "$dnsd" 2>/dev/null && wait "$dnsd" 2>/dev/null
  [ -n "$upstream" ] && kill "$upstream" 2>/dev/null && wait "$upstream" 2>/dev/null
  ip netns del $D 2>/dev/null
  ip netns del $U 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2] got [$3]"; fi; }
q() { ip netns exec $D dig @10.203.0.1 +time=4 +tries=1 "$@"; }
short() { q +short "$@" | tr '\n' ' ' | sed 's/ $//'; }
status() { q "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
wait_for() {  # file pattern
  for _ in $(seq 50); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

ip netns add $D || exit 1
ip netns add $U || exit 1
ip link add dn$$a netns $D type veth peer name dn$$b netns $U || exit 1
ip -n $D addr add 10.203.0.1/24 dev dn$$a
ip -n $U addr add 10.203.0.2/24 dev dn$$b
for ns in $D $U; do ip -n $ns link set lo up; done
ip -n $D link set dn$$a up
ip -n $U link set dn$$b up

start_upstream() {
  ip netns exec $U "$DNSMASQ" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
    --user=root --group=root --pid-file="$TMP/dnsmasq.pid" \
    --address=/ext.test/192.0.2.7 --address=/ext.test/2001:db8::7 \
    --listen-address=10.203.0.2 --bind-interfaces -p 53 >"$TMP/dnsmasq.log" 2>&1 &
  upstream=$!
  for _ in $(seq 50); do
    ip netns exec $U dig @10.203.0.2 +time=1 +tries=1 +short ext.test 2>/dev/null | grep -q 192.0.2.7 && return 0
    sleep 0.1
  done
  echo "dnsmasq did not start"; cat "$TMP/dnsmasq.log"; return 1
}
start_upstream || exit 1

ip netns exec $D "$DNSD" --listen 10.203.0.1:53 --domain overlay --upstream 10.203.0.2:53 \
  --upstream-timeout-ms 700 --record web=10.77.0.5 >"$TMP/out" 2>"$TMP/err" &
dnsd=$!
wait_for "$TMP/out" '^ready' || { echo "overlay-dnsd did not start"; cat "$TMP/err"; exit 1; }

check "forwarded A from dnsmasq" "192.0.2.7" "$(short ext.test A)"
check "forwarded AAAA from dnsmasq" "2001:db8::7" "$(short ext.test AAAA)"
check "forwarded, mixed case" "192.0.2.7" "$(short www.EXT.test A)"
check "forwarded over TCP" "192.0.2.7" "$(short +tcp ext.test A)"
check "RA set when upstreams exist" "yes" "$(q ext.test | grep -q 'flags:.* ra' && echo yes || echo no)"
check "overlay names stay local" "10.77.0.5" "$(short web.overlay A)"

kill "$upstream"; wait "$upstream" 2>/dev/null; upstream=""
start=$(date +%s%N)
check "upstream down: SERVFAIL over UDP" "SERVFAIL" "$(status ext.test A)"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ $ms -ge 600 ] && [ $ms -lt 3500 ]; then ok "SERVFAIL after the upstream timeout (${ms} ms)"; else bad "SERVFAIL took ${ms} ms"; fi
check "upstream down: SERVFAIL over TCP" "SERVFAIL" "$(status +tcp ext.test A)"
check "upstream down: overlay names still answered" "10.77.0.5" "$(short web.overlay A)"

start_upstream || exit 1
check "upstream back: forwarding resumes" "192.0.2.7" "$(short ext.test A)"

[ $fail = 0 ] && echo "PASS dns_forward" || { echo "--- stderr"; cat "$TMP/err"; }
exit $fail
