#!/usr/bin/env bash
# scripts/demo.sh, as a user runs it (without a terminal it does not wait):
# every cross-node ping passes, both views print for every node, DNS answers,
# and afterwards the host has exactly the namespaces and links it had.
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
root=$(cd "$(dirname "$0")/../.." && pwd)
host_state() { ip netns list | awk '{print $1}' | sort; ip -o link show | awk -F': ' '{print $2}' | sort; nft list tables; }
before=$(host_state)
out=$(BUILD_DIR=${BUILD_DIR:-$root/build} bash "$root/scripts/demo.sh" < /dev/null 2>&1) || { echo "$out"; exit 1; }
echo "$out" | tail -n 30
[ "$(grep -c -- '-> .*: ok$' <<<"$out")" = 4 ] || { echo "expected 4 passing pings"; exit 1; }
! grep -q "FAILED" <<<"$out"
[ "$(grep -c '^PEER ' <<<"$out")" = 3 ] && [ "$(grep -c '^interface: ' <<<"$out")" = 3 ]
grep -qE "web-2.overlay -> 10\.200\.[0-9.]+$" <<<"$out"
grep -q "torn down; the host is as it was" <<<"$out"
[ "$(host_state)" = "$before" ] || { echo "the host changed:"; diff <(echo "$before") <(host_state); exit 1; }
echo "demo: ran, passed its pings, left the host as it was"
