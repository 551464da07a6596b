#!/usr/bin/env bash
# dns_recursion.sh - overlay-dnsd is not an open resolver, not a reflector,
# and not fooled by header counts.
#
#   ns A (allowed)           ns D (overlay-dnsd)                 ns U (upstream)
#   10.204.1.2 ---veth--- 10.204.1.1:53                          dnsmasq
#                          10.204.2.1:53 ---veth--- ns X         10.204.3.2:53
#                          10.204.3.1 --------------veth-------- (ext.test -> 192.0.2.7)
#                                                   10.204.2.2
#                                                   (denied)
#
# dnsd: --allow 10.204.1.0/24, --rrl-rate 20 --rrl-burst 20, record web.
# Checks: A gets ext.test forwarded (NOERROR 192.0.2.7); X gets REFUSED for
# it (UDP and TCP) but still the overlay zone (web.overlay); a 640-question
# query and a pointer bomb from X get FORMERR; a burst of 300 queries from X
# gets far fewer than 300 responses (rate limited), and dnsd counted them.
# Exit 0 pass, 1 fail.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
DNSD="$BUILD_DIR/net/dns/overlay-dnsd"
[ -x "$DNSD" ] || { echo "missing $DNSD"; exit 1; }
for c in dig python3; do command -v $c >/dev/null || { echo "missing $c"; exit 1; }; done
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || { echo "missing dnsmasq"; exit 1; }

A=drca$$ D=drcd$$ X=drcx$$ U=drcu$$
TMP=$(mktemp -d /tmp/ovl-dns-recursion.XXXXXX)
dnsd="" upstream=""
fail=0
cleanup() {
  [ -n "$dnsd" ] && kill "$dnsd" 2>/dev/null && wait "$dnsd" 2>/dev/null
  [ -n "$upstream" ] && kill "$upstream" 2>/dev/null && wait "$upstream" 2>/dev/null
  for ns in $A $D $X $U; do ip netns del $ns 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2] got [$3]"; fi; }

for ns in $A $D $X $U; do ip netns add $ns || exit 1; ip -n $ns link set lo up; done
link() {  # nsL addrL nsR addrR name
  ip link add "$5l" netns "$1" type veth peer name "$5r" netns "$3" || exit 1
  ip -n "$1" addr add "$2/24" dev "$5l"; ip -n "$3" addr add "$4/24" dev "$5r"
  ip -n "$1" link set "$5l" up; ip -n "$3" link set "$5r" up
}
link $D 10.204.1.1 $A 10.204.1.2 dra$$
link $D 10.204.2.1 $X 10.204.2.2 drx$$
link $D 10.204.3.1 $U 10.204.3.2 dru$$

ip netns exec $U "$DNSMASQ" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
  --user=root --group=root --pid-file="$TMP/dnsmasq.pid" --address=/ext.test/192.0.2.7 \
  --listen-address=10.204.3.2 --bind-interfaces -p 53 >"$TMP/dnsmasq.log" 2>&1 &
upstream=$!
for _ in $(seq 50); do
  ip netns exec $U dig @10.204.3.2 +time=1 +tries=1 +short ext.test 2>/dev/null | grep -q 192.0.2.7 && break
  sleep 0.1
done

ip netns exec $D "$DNSD" --listen 10.204.1.1:53 --listen 10.204.2.1:53 --domain overlay \
  --upstream 10.204.3.2:53 --upstream-timeout-ms 700 --record web=10.77.0.5 \
  --allow 10.204.1.0/24 --rrl-rate 20 --rrl-burst 20 >"$TMP/out" 2>"$TMP/err" &
dnsd=$!
for _ in $(seq 50); do grep -q '^ready' "$TMP/out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$TMP/out" || { echo "overlay-dnsd did not start"; cat "$TMP/err"; exit 1; }

digA() { ip netns exec $A dig @10.204.1.1 +time=3 +tries=1 "$@"; }
digX() { ip netns exec $X dig @10.204.2.1 +time=3 +tries=1 "$@"; }
status_of() { sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }

check "allowed client: forwarded" "192.0.2.7" "$(digA +short ext.test A)"
check "denied client: REFUSED over UDP" "REFUSED" "$(digX ext.test A | status_of)"
check "denied client: REFUSED over TCP" "REFUSED" "$(digX +tcp ext.test A | status_of)"
check "denied client: the overlay zone is still answered" "10.77.0.5" "$(digX +short web.overlay A)"

cat >"$TMP/abuse.py" <<'PY'
import socket, struct, sys, time
dst = (sys.argv[1], 53)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
def rcode(q):
    s.sendto(q, dst)
    r, _ = s.recvfrom(4096)
    return r[3] & 0x0F, len(r)
name = b"\x03web\x07overlay\x00"
# 640 questions, ~4 KiB: the first spelled out, the rest pointers to it.
multi = struct.pack(">HHHHHH", 0x5151, 0x0100, 640, 0, 0, 0) + name + b"\x00\x01\x00\x01"
multi += b"\xc0\x0c\x00\x01\x00\x01" * 639
# Pointer bomb: one question, then 200 "additional records" that are chains
# of backward pointers.
bomb = struct.pack(">HHHHHH", 0x5252, 0x0100, 1, 0, 0, 200) + name + b"\x00\x01\x00\x01"
for i in range(1000):
    bomb += struct.pack(">H", 0xC000 | (len(bomb) - 2))
print("multi", *rcode(multi))
print("bomb", *rcode(bomb))
PY
abuse=$(ip netns exec $X python3 "$TMP/abuse.py" 10.204.2.1 2>&1)
echo "$abuse"
check "640 questions: FORMERR" "multi 1 12" "$(grep '^multi' <<<"$abuse")"
check "pointer bomb: FORMERR" "bomb 1 12" "$(grep '^bomb' <<<"$abuse")"

cat >"$TMP/burst.py" <<'PY'
import socket, struct, sys, time
dst, n = (sys.argv[1], 53), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q = lambda i: struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + b"\x03web\x07overlay\x00\x00\x01\x00\x01"
for i in range(n): s.sendto(q(i), dst)
s.settimeout(1); got = tc = 0
try:
    while True:
        r, _ = s.recvfrom(4096); got += 1; tc += bool(r[2] & 0x02)
except socket.timeout: pass
print(got, tc)
PY
read -r got tc < <(ip netns exec $X python3 "$TMP/burst.py" 10.204.2.1 300)
echo "burst of 300 from the denied /24: $got responses ($tc truncated)"
if [ "${got:-300}" -lt 250 ] && [ "${tc:-0}" -gt 0 ]; then ok "responses rate-limited (slips are TC)"; else bad "rate limit: $got responses, $tc TC"; fi
check "the allowed /24 has its own bucket" "10.77.0.5" "$(digA +short web.overlay A)"

kill "$dnsd"; wait "$dnsd" 2>/dev/null; dnsd=""
cat "$TMP/err"
grep -q 'refused=[1-9]' "$TMP/err" || bad "dnsd counted no REFUSED"
grep -q 'rate_limited=[1-9]' "$TMP/err" || bad "dnsd counted no rate-limited responses"
[ $fail = 0 ] && echo "PASS dns_recursion"
exit $fail
