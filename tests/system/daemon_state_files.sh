#!/usr/bin/env bash
# Trust nothing on disk. A data dir with planted journal entries (a sysctl
# outside our forwarding set, a file outside our drop-ins, a link not named
# by our scheme): each is skipped and logged, never executed, while an entry
# of ours is still reverted. A journal that does not parse is moved aside,
# what is provably ours (our nft table, our `zl-` bridges) is re-owned and
# reverted, and the daemon serves. A marker that does not parse is moved
# aside instead of being overwritten. /healthz and /metrics report all of it.
#
#   namespace N (HTTP on its own 127.0.0.1:7420)
#   +------------------------------------------------------------------+
#   |  keep0 (veth, not ours)           zl-<tag>o-b (bridge, ours)       |
#   |  tcp_syncookies, kernel.core_pattern (must not change)             |
#   |  overlayd --data-dir D1: planted journal                           |
#   |  overlayd --data-dir D2: garbage journal, leftover zl- bridge and   |
#   |                          our nft table                             |
#   |  overlayd --data-dir D3: garbage marker, dedicated service db       |
#   +------------------------------------------------------------------+
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=sf$$
N=ovl${tag}n
T=ovl_$tag
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
pids=()
cleanup() {
  stop_all "${pids[@]}"
  ip netns del "$N" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export OVL_HTTP=127.0.0.1:7420
http() { ip netns exec "$N" curl -s --max-time 5 "http://127.0.0.1:7420$1"; }
metric() { http /metrics | awk -v m="$1" '$1 == m { print $2 }'; }
stop_daemon() {  # dir pid
  ovl_ctl "$1" '{"op":"shutdown"}' > /dev/null
  ovl_wait_gone "$2"
}

ip netns add "$N"
ip -n "$N" link set lo up
ip -n "$N" link add keep0 type veth peer name keep1
cookies=$(ip netns exec "$N" cat /proc/sys/net/ipv4/tcp_syncookies)
planted_cookies=$(( cookies == 1 ? 0 : 1 ))
core_pattern=$(cat /proc/sys/kernel/core_pattern)

# --- 1. planted journal entries ------------------------------------------------
d1=$tmp/d1
mkdir -m 0700 "$d1"
echo precious > "$tmp/precious"
ip -n "$N" link add "zl-${tag}o-b" type bridge   # a leftover of ours
python3 - "$d1/host-journal.json" "$tmp/precious" "$planted_cookies" "zl-${tag}o-b" <<'PY'
import json, sys
path, precious, cookies, ours = sys.argv[1:]
# kernel.core_pattern's "prev" is a harmless marker value: the daemon must
# not write it (the test checks the host's value is unchanged).
changes = [
    {"kind": "link", "params": {"name": ours}},
    {"kind": "sysctl", "params": {"key": "kernel.core_pattern", "prev": "|/bin/false planted"}},
    {"kind": "sysctl", "params": {"key": "net.ipv4.tcp_syncookies", "prev": cookies}},
    {"kind": "file", "params": {"path": precious}},
    {"kind": "link", "params": {"name": "keep0"}},
]
json.dump({"version": 1, "changes": changes}, open(path, "w"))
PY
# --restart-grace 0: leftovers are reverted at start, not adopted (daemon_restart_adopt.sh covers adoption)
ovl_start "$N" "$d1" --firewall-table "$T" --restart-grace 0
p1=$ovl_pid; pids+=("$p1")
[ "$(cat /proc/sys/kernel/core_pattern)" = "$core_pattern" ]
[ "$(ip netns exec "$N" cat /proc/sys/net/ipv4/tcp_syncookies)" = "$cookies" ]
[ "$(cat "$tmp/precious")" = precious ]
ip -n "$N" link show keep0 > /dev/null
if ip -n "$N" link show "zl-${tag}o-b" 2> /dev/null; then echo "our leftover bridge was not reverted"; exit 1; fi
for what in kernel.core_pattern net.ipv4.tcp_syncookies "path=$tmp/precious" "name=keep0"; do
  grep "skipping an entry overlayd does not write" "$d1.log" | grep -qF "$what"
done
[ "$(metric overlayd_journal_entries_skipped_total)" = 4 ]
http /healthz | grep -q "kernel.core_pattern"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["changes"] == [], "skipped entries kept"' "$d1/host-journal.json"
stop_daemon "$d1" "$p1"
echo "ok: planted entries skipped and logged, never executed; our leftover reverted"

# --- 2. a journal that does not parse ----------------------------------------------
d2=$tmp/d2
mkdir -m 0700 "$d2"
printf '{"version":1,"changes":[{"kind":"link","params":{"name":"zl-' > "$d2/host-journal.json"
garbage=$(cat "$d2/host-journal.json")
ip -n "$N" link add "zl-${tag}c-b" type bridge
ip netns exec "$N" nft add table inet "$T"
ovl_start "$N" "$d2" --firewall-table "$T" --restart-grace 0
p2=$ovl_pid; pids+=("$p2")
aside=$(ls "$d2"/host-journal.json.corrupt-*)
[ "$(cat "$aside")" = "$garbage" ]
grep -q "does not parse" "$d2.log"
if ip -n "$N" link show "zl-${tag}c-b" 2> /dev/null; then echo "re-owned bridge not reverted"; exit 1; fi
ip -n "$N" link show keep0 > /dev/null
# The node is not bricked: setup works, using our table again.
ovl_ctl "$d2" '{"op":"set_local_node_id","node_id":1}' > /dev/null
ovl_ctl "$d2" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}" > /dev/null
ovl_ctl "$d2" '{"op":"setup_service_overlay","service":"web"}' | grep -q '"result":"service_overlay"'
ip netns exec "$N" nft list table inet "$T" > /dev/null
[ "$(metric overlayd_state_files_quarantined_total)" = 1 ]
http /healthz | grep -q "host journal did not parse"
stop_daemon "$d2" "$p2"
if ip netns exec "$N" nft list table inet "$T" 2> /dev/null; then echo "our table left after shutdown"; exit 1; fi
echo "ok: unparsable journal moved aside, ours re-owned and reverted, the daemon served"

# --- 3. a marker that does not parse -------------------------------------------------
d3=$tmp/d3
mkdir -m 0700 "$d3"
printf '{"version":1,"networks":[{"owner":"service:old","wg_private_key":"KEEPME' > "$d3/agent_network.json"
ovl_start "$N" "$d3" --firewall-table "$T"
p3=$ovl_pid; pids+=("$p3")
ovl_ctl "$d3" '{"op":"set_local_node_id","node_id":1}' > /dev/null
ovl_ctl "$d3" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}" > /dev/null
ovl_ctl "$d3" '{"op":"setup_service_overlay","service":"db","mode":"dedicated"}' | grep -q '"mode":"dedicated"'
grep -q KEEPME "$d3"/agent_network.json.corrupt-*
python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert [n["owner"] for n in m["networks"]] == ["service:db"], m' "$d3/agent_network.json"
[ "$(metric overlayd_state_files_quarantined_total)" = 1 ]
http /healthz | grep -q "agent_network.json did not parse"
stop_daemon "$d3" "$p3"
echo "ok: unparsable marker moved aside, never overwritten"
echo "state files: planted entries skipped, corrupt files quarantined, the node served"
