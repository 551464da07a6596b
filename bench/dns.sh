#!/usr/bin/env bash
# dns.sh - overlay-dnsd against dnsmasq, serving the same records, in one run:
#
#   netns $NS (loopback only)
#   +--------------------------------------------------------------+
#   |  dnsperf -s 127.0.0.1 -p 5301  -->  overlay-dnsd (ours)       |
#   |  dnsperf -s 127.0.0.1 -p 5302  -->  dnsmasq --addn-hosts      |
#   +--------------------------------------------------------------+
#
# Records: $RECORDS names svcN.overlay → 10.80.x.y (ours from a records file,
# dnsmasq from a hosts file; --local=/overlay/ so both are authoritative for
# the zone). Queries: every name's A, plus 1 in 10 for a missing name
# (NXDOMAIN), in a shuffled file; dnsperf runs $DUR s against each, one after
# the other, alternating for $ROUNDS rounds (a shared, busy machine is noisy).
# Both servers are single-threaded. Prints each run's QPS, lost queries, the
# mean of each and the ratio ours / dnsmasq.
#
# Needs root, dnsperf, dnsmasq. Nothing outside the namespace is touched;
# everything is removed on exit.
# Usage: sudo BUILD_DIR=/work/main/build bench/dns.sh   (DUR=10 ROUNDS=2 RECORDS=1000)
set -euo pipefail

NS=dnsb$$
DUR=${DUR:-10}
ROUNDS=${ROUNDS:-2}
RECORDS=${RECORDS:-1000}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
BUILD_DIR=${BUILD_DIR:-/work/main/build}
DNSD="$BUILD_DIR/net/dns/overlay-dnsd"
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
for b in "$DNSD" "$DNSMASQ" "$(command -v dnsperf || true)"; do
  [ -n "$b" ] && [ -x "$b" ] || { echo "missing ${b:-dnsperf}"; exit 1; }
done

TMP=$(mktemp -d /tmp/ovl-dns-bench.XXXXXX)
ours="" theirs=""
cleanup() {
  [ -n "$ours" ] && kill "$ours" 2>/dev/null && wait "$ours" 2>/dev/null
  [ -n "$theirs" ] && kill "$theirs" 2>/dev/null && wait "$theirs" 2>/dev/null
  ip netns del $NS 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add $NS
ip -n $NS link set lo up

: >"$TMP/records"; : >"$TMP/hosts"; : >"$TMP/queries.in"
for i in $(seq 1 "$RECORDS"); do
  ip="10.80.$((i / 250)).$((i % 250 + 1))"
  echo "svc$i $ip" >>"$TMP/records"
  echo "$ip svc$i.overlay" >>"$TMP/hosts"
  echo "svc$i.overlay A" >>"$TMP/queries.in"
  [ $((i % 10)) = 0 ] && echo "missing$i.overlay A" >>"$TMP/queries.in"
done
shuf "$TMP/queries.in" >"$TMP/queries"

ip netns exec $NS "$DNSD" --listen 127.0.0.1:5301 --domain overlay \
  --records-file "$TMP/records" >"$TMP/ours.out" 2>"$TMP/ours.err" &
ours=$!
ip netns exec $NS "$DNSMASQ" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
  --user=root --group=root --pid-file="$TMP/dnsmasq.pid" --addn-hosts="$TMP/hosts" \
  --local=/overlay/ --listen-address=127.0.0.1 --bind-interfaces -p 5302 \
  >"$TMP/dnsmasq.log" 2>&1 &
theirs=$!

ready() {  # port: answers svc1.overlay
  for _ in $(seq 50); do
    ip netns exec $NS dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short svc1.overlay 2>/dev/null |
      grep -q '^10\.80\.' && return 0
    sleep 0.1
  done
  echo "server on port $1 did not answer"; cat "$TMP"/*.err "$TMP/dnsmasq.log"; exit 1
}
ready 5301
ready 5302

run() {  # label port → "qps lost"
  ip netns exec $NS dnsperf -s 127.0.0.1 -p "$2" -d "$TMP/queries" -l "$DUR" \
    -c "$CLIENTS" -q "$OUTSTANDING" -t 2 >"$TMP/$1.perf" 2>&1 || true
  local qps lost
  qps=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$TMP/$1.perf")
  lost=$(sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$TMP/$1.perf")
  [ -n "$qps" ] || { echo "dnsperf against $1 failed:"; cat "$TMP/$1.perf"; exit 1; }
  echo "$qps $lost"
}

echo "records=$RECORDS duration=${DUR}s rounds=$ROUNDS clients=$CLIENTS outstanding=$OUTSTANDING (UDP, loopback in netns $NS)"
sum_ours=0 sum_theirs=0
for r in $(seq 1 "$ROUNDS"); do
  read -r q l < <(run overlay-dnsd 5301)
  printf 'round %d overlay-dnsd %10.0f qps  lost %s\n' "$r" "$q" "$l"
  sum_ours=$(echo "$sum_ours + $q" | bc -l)
  read -r q l < <(run dnsmasq 5302)
  printf 'round %d dnsmasq      %10.0f qps  lost %s\n' "$r" "$q" "$l"
  sum_theirs=$(echo "$sum_theirs + $q" | bc -l)
done
grep -E 'Response codes' "$TMP/overlay-dnsd.perf" | sed 's/^ */overlay-dnsd /'
grep -E 'Response codes' "$TMP/dnsmasq.perf" | sed 's/^ */dnsmasq      /'
printf 'overlay-dnsd mean %10.0f qps\n' "$(echo "$sum_ours / $ROUNDS" | bc -l)"
printf 'dnsmasq      mean %10.0f qps\n' "$(echo "$sum_theirs / $ROUNDS" | bc -l)"
printf 'ratio ours/dnsmasq %.2f\n' "$(echo "$sum_ours / $sum_theirs" | bc -l)"
