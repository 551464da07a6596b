#!/usr/bin/env bash
# overlay-dnsd answering overlay names, checked with dig (bind9-dnsutils):
# A, AAAA, relative and absolute names, case, NXDOMAIN + SOA, NODATA, PTR
# (v4 and v6), TCP, truncation over UDP, FORMERR for garbage, and records
# changed at runtime (stdin control and SIGHUP reload) without a restart.
#
#   namespace D (dn$$d): lo 127.0.0.1, fd77::1/128 on lo, veth-less
#     overlay-dnsd  --listen 127.0.0.1:53 --listen [::1]:53 --domain overlay
#     dig @127.0.0.1 / @::1  (runs inside D)
set -u
[ "$(id -u)" = 0 ] || exit 77
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
DNSD="$BUILD_DIR/net/dns/overlay-dnsd"
[ -x "$DNSD" ] || { echo "missing $DNSD"; exit 1; }
command -v dig >/dev/null || { echo "missing dig"; exit 1; }

D=dn$$d
TMP=$(mktemp -d /tmp/ovl-dns-resolve.XXXXXX)
dnsd=""
fail=0
cleanup() {
  exec 3>&- 2>/dev/null
  [ -n "$dnsd" ] && kill "$dnsd" 2>/dev/null && wait "$dnsd" 2>/dev/null
  ip netns del $D 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
check() {  # name expected actual
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2] got [$3]"; fi
}
q() { ip netns exec $D dig @127.0.0.1 +time=2 +tries=1 "$@"; }
short() { q +short "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
status() { q "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }

ip netns add $D || exit 1
ip -n $D link set lo up
ip -n $D addr add ::1/128 dev lo 2>/dev/null

cat >"$TMP/records" <<REC
# name ip
file1 10.99.0.1
REC
mkfifo "$TMP/ctl"
ip netns exec $D "$DNSD" --listen 127.0.0.1:53 --listen '[::1]:53' --domain overlay --ttl 42 \
  --record web=10.77.0.5 --record web=fd77::5 --record db.overlay.=10.77.0.6 \
  --record v6only=fd77::8 --records-file "$TMP/records" --control-stdin \
  <"$TMP/ctl" >"$TMP/out" 2>"$TMP/err" &
dnsd=$!
exec 3>"$TMP/ctl"
for _ in $(seq 50); do grep -q '^ready' "$TMP/out" && break; sleep 0.1; done
grep -q '^ready' "$TMP/out" || { echo "overlay-dnsd did not start"; cat "$TMP/err"; exit 1; }
ctl() {  # sends one control line, waits for its answer (bounded)
  local before; before=$(wc -l <"$TMP/out")
  echo "$1" >&3
  for _ in $(seq 50); do [ "$(wc -l <"$TMP/out")" -gt "$before" ] && break; sleep 0.05; done
  tail -n 1 "$TMP/out"
}

check "A under the domain" "10.77.0.5" "$(short web.overlay A)"
check "A as registered (relative name)" "10.77.0.5" "$(short web A)"
check "absolute name with a final dot" "10.77.0.5" "$(short web.overlay. A)"
check "case-insensitive" "10.77.0.5" "$(short WeB.OvErLaY A)"
check "AAAA" "fd77::5" "$(short web.overlay AAAA)"
check "fully qualified registration" "10.77.0.6" "$(short db.overlay A)"
check "over IPv6 transport" "10.77.0.5" "$(ip netns exec $D dig @::1 +time=2 +tries=1 +short web.overlay A)"
check "TTL as configured" "42" "$(q +noall +answer web.overlay A | awk '{print $2}')"
flags=$(q web.overlay A | sed -n 's/.*flags: \([a-z ]*\);.*/\1/p')
check "flags qr aa rd" "qr aa rd" "$flags"
check "question case echoed" "WEB.overlay." "$(q +noall +question WEB.overlay A | awk '{print substr($1,2)}')"

check "NXDOMAIN inside the domain" "NXDOMAIN" "$(status nope.overlay A)"
check "NXDOMAIN carries the SOA" "overlay. SOA" "$(q +noall +authority nope.overlay A | awk '{print $1, $4}')"
check "NODATA for a missing type" "NOERROR" "$(status v6only.overlay A)"
check "NODATA carries the SOA" "overlay. SOA" "$(q +noall +authority v6only.overlay A | awk '{print $1, $4}')"
check "PTR v4" "web.overlay." "$(short -x 10.77.0.5)"
check "PTR v4 of an absolute registration" "db.overlay." "$(short -x 10.77.0.6)"
check "PTR v6" "web.overlay." "$(short -x fd77::5)"
check "TCP" "10.77.0.5" "$(short +tcp web.overlay A)"

# Truncation: 40 addresses need ~700 octets.
for i in $(seq 1 40); do echo "add big 10.78.0.$i" >&3; done
ctl "add big 10.78.0.40" >/dev/null
check "40 A records fit the default EDNS size" "40" "$(q +noall +answer big.overlay A | grep -c 'IN.A')"
check "TC set without EDNS (512)" "yes" "$(q +noedns +ignore big.overlay A | grep -q 'flags:.* tc' && echo yes || echo no)"
check "TC set with bufsize 512" "yes" "$(q +bufsize=512 +ignore big.overlay A | grep -q 'flags:.* tc' && echo yes || echo no)"
check "dig retries truncated answers over TCP" "40" "$(q +noedns +noall +answer big.overlay A | grep -c 'IN.A')"

# Malformed input: a short garbage datagram is dropped, a broken body gets FORMERR.
garbage=$(ip netns exec $D python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
s.sendto(b"\x01\x02\x03", ("127.0.0.1", 53))
try: s.recv(512); print("answered-short")
except socket.timeout: pass
s.sendto(bytes.fromhex("abcd01000001000000000000") + b"\x05ab", ("127.0.0.1", 53))
try:
    r = s.recv(512); print("formerr" if r[:2] == b"\xab\xcd" and (r[3] & 0xF) == 1 else "wrong")
except socket.timeout: print("no-answer")
PY
)
check "short garbage dropped, broken body FORMERR" "formerr" "$garbage"
check "still serving after garbage" "10.77.0.5" "$(short web.overlay A)"

# Runtime changes, no restart.
check "control: del" "ok" "$(ctl 'del web')"
check "unregistered name vanishes" "NXDOMAIN" "$(status web.overlay A)"
check "its PTR goes too (forwarded: no upstream, SERVFAIL)" "SERVFAIL" "$(status -x 10.77.0.5)"
check "control: set" "ok" "$(ctl 'set web 10.77.0.9')"
check "re-registered name resolves to the new address" "10.77.0.9" "$(short web.overlay A)"
check "control: bad input is refused" "error" "$(ctl 'set bad/name 10.0.0.1' | cut -d: -f1)"
check "records file loaded at start" "10.99.0.1" "$(short file1.overlay A)"
echo "file2 10.99.0.2" >"$TMP/records"
kill -HUP "$dnsd"
for _ in $(seq 50); do grep -q 'reloaded' "$TMP/err" && break; sleep 0.1; done
check "SIGHUP reload adds" "10.99.0.2" "$(short file2.overlay A)"
check "SIGHUP reload removes" "NXDOMAIN" "$(status file1.overlay A)"
check "daemon alive" "yes" "$(kill -0 "$dnsd" 2>/dev/null && echo yes || echo no)"

[ $fail = 0 ] && echo "PASS dns_resolve" || { echo "--- stderr"; cat "$TMP/err"; }
exit $fail
