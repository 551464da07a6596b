#!/usr/bin/env bash
# A "container" namespace whose resolv.conf points at overlay-dnsd resolves
# registered service names through the ordinary libc stub resolver (getent),
# relative names via the search domain, both families (glibc sends A and
# AAAA in parallel from one socket), and loses a name once it is removed.
#
#   namespace D (dn$$d)                      namespace C (dn$$c) "container"
#   overlay-dnsd 10.204.0.1:53   veth       /etc/resolv.conf (private bind mount):
#                 dn$$a ==================== dn$$b 10.204.0.2/24, fd78::2/64
#                                             nameserver 10.204.0.1
#                                             search overlay
#   getent hosts / ahosts runs in C inside its own mount namespace (unshare -m),
#   so the host's /etc/resolv.conf is never touched.
set -u
[ "$(id -u)" = 0 ] || exit 77
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
DNSD="$BUILD_DIR/net/dns/overlay-dnsd"
[ -x "$DNSD" ] || { echo "missing $DNSD"; exit 1; }
command -v unshare >/dev/null || { echo "missing unshare"; exit 1; }

D=dn$$d C=dn$$c
TMP=$(mktemp -d /tmp/ovl-dns-container.XXXXXX)
dnsd=""
fail=0
cleanup() {
  exec 3>&- 2>/dev/null
  [ -n "$dnsd" ] && kill "$dnsd" 2>/dev/null && wait "$dnsd" 2>/dev/null
  ip netns del $D 2>/dev/null
  ip netns del $C 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2] got [$3]"; fi; }
# Runs a command in C with the container's resolv.conf bind-mounted privately.
in_c() {
  ip netns exec $C unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$TMP/resolv.conf" "$@"
}
hosts() { in_c timeout 10 getent "$1" "$2" | awk '{print $1}' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

ip netns add $D || exit 1
ip netns add $C || exit 1
ip link add dn$$a netns $D type veth peer name dn$$b netns $C || exit 1
ip -n $D addr add 10.204.0.1/24 dev dn$$a
ip -n $C addr add 10.204.0.2/24 dev dn$$b
# A global v6 address in C, or glibc's AI_ADDRCONFIG never asks for AAAA.
ip -n $C addr add fd78::2/64 dev dn$$b nodad
for ns in $D $C; do ip -n $ns link set lo up; done
ip -n $D link set dn$$a up
ip -n $C link set dn$$b up
printf 'nameserver 10.204.0.1\nsearch overlay\noptions ndots:1 timeout:2 attempts:1\n' >"$TMP/resolv.conf"

mkfifo "$TMP/ctl"
ip netns exec $D "$DNSD" --listen 10.204.0.1:53 --domain overlay \
  --record web=10.77.0.5 --record web=fd77::5 --record api.overlay.=10.77.0.6 --control-stdin \
  <"$TMP/ctl" >"$TMP/out" 2>"$TMP/err" &
dnsd=$!
exec 3>"$TMP/ctl"
for _ in $(seq 50); do grep -q '^ready' "$TMP/out" && break; sleep 0.1; done
grep -q '^ready' "$TMP/out" || { echo "overlay-dnsd did not start"; cat "$TMP/err"; exit 1; }

check "relative service name via the search domain (A)" "10.77.0.5" "$(hosts ahostsv4 web)"
check "relative service name, both families" "10.77.0.5 fd77::5" "$(hosts ahosts web)"
check "fully qualified name" "10.77.0.6" "$(hosts ahostsv4 api.overlay)"
check "the host's resolv.conf is untouched" "no" "$(grep -q 10.204.0.1 /etc/resolv.conf && echo yes || echo no)"
echo "del web" >&3
for _ in $(seq 50); do grep -q '^ok' "$TMP/out" && break; sleep 0.05; done
check "removed name no longer resolves" "" "$(hosts ahostsv4 web)"

[ $fail = 0 ] && echo "PASS dns_container" || { echo "--- stderr"; cat "$TMP/err"; }
exit $fail
