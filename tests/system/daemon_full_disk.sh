#!/usr/bin/env bash
# A full disk during a journal, marker or attachments write: the requests
# (a service, a dedicated identity, a container attach) answer `err`, the
# journal and the marker on disk keep their content (nothing lost, no temp
# files), the container is left without an interface,
# and once there is room again the same request works and a shutdown leaves
# the namespace exactly as before.
#
#   namespace N                      data dir D = a 1 MiB tmpfs
#   +-------------------------------+   +-----------------------------+
#   | overlayd --data-dir D         |   | host-journal.json           |
#   |   global zl-...-g, service a  |   | agent_network.json          |
#   |   service web -> err (full)   |   | fill (takes the free space) |
#   +-------------------------------+   +-----------------------------+
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
. "$(dirname "$0")/lib/procs.bash"
. "$(dirname "$0")/lib/overlayd.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
D=$BUILD_DIR/overlayd
C=$BUILD_DIR/overlayctl
tag=fd$$
N=ovl${tag}n
tmp=$(mktemp -d /tmp/overlayd-$tag.XXXX)
dir=$tmp/d
pids=() cns=()
cleanup() {
  stop_all "${pids[@]}"
  for c in "${cns[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  ip netns del "$N" 2>/dev/null || true
  umount "$dir" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -m 0700 "$dir"
mount -t tmpfs -o size=1m,mode=0700 "ovl$tag" "$dir"
ip netns add "$N"
ip -n "$N" link set lo up
. "$(dirname "$0")/lib/container.bash"
container "${N}c"   # -> $cpid
before=$(ovl_snapshot "$N")
ovl_start "$N" "$dir" --firewall-table "ovl_$tag"
pid=$ovl_pid; pids+=("$pid")
ovl_ctl "$dir" '{"op":"set_local_node_id","node_id":1}' > /dev/null
ovl_ctl "$dir" "{\"op\":\"setup_global_overlay\",\"deployment\":\"$tag\",\"instance_id\":\"1\",\"cluster_cidr\":\"10.200.0.0/16\",\"slice_cidr\":\"10.200.1.0/28\",\"wg_port\":51820}" > /dev/null
ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"a","mode":"dedicated"}' | grep -q '"mode":"dedicated"'
journal=$(cat "$dir/host-journal.json")
marker=$(cat "$dir/agent_network.json")

dd if=/dev/zero of="$dir/fill" bs=4k 2> /dev/null || true   # until ENOSPC
out=$(ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"web"}' || true)
echo "full disk: $out"
grep -q '"result":"err"' <<< "$out"
[ "$(cat "$dir/host-journal.json")" = "$journal" ]
[ "$(cat "$dir/agent_network.json")" = "$marker" ]
python3 -c 'import json,sys; json.load(open(sys.argv[1])); json.load(open(sys.argv[2]))' "$dir/host-journal.json" "$dir/agent_network.json"
if ls "$dir" | grep -q '\.tmp\.'; then echo "temp files left on the full disk"; ls -la "$dir"; exit 1; fi
# Whatever the failed request left on the host is journaled (write-ahead), so
# it is ours to revert; nothing we made is missing from the journal.
ovl_ctl "$dir" '{"op":"status"}' | grep -q '"result":"status"'
# A second dedicated service needs a new identity in the marker; a
# container attach needs the journal and its service's attachments file.
out=$(ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"b","mode":"dedicated"}' || true)
echo "full disk, dedicated: $out"
grep -q '"result":"err"' <<< "$out"
out=$(ovl_ctl "$dir" "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$cpid},\"service\":\"a\"}" || true)
echo "full disk, attach: $out"
grep -q '"result":"err"' <<< "$out"
if ip netns exec "${N}c" ip link show eth0 > /dev/null 2>&1; then echo "a container attach that answered err left eth0"; exit 1; fi
[ "$(cat "$dir/host-journal.json")" = "$journal" ]
[ "$(cat "$dir/agent_network.json")" = "$marker" ]
[ ! -e "$dir/attachments" ] || [ -z "$(ls "$dir/attachments")" ]
if ls "$dir" | grep -q '\.tmp\.'; then echo "temp files left on the full disk"; ls -la "$dir"; exit 1; fi
echo "ok: full disk answered err and lost nothing (journal, marker, attachments)"

rm -f "$dir/fill"
ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"web"}' | grep -q '"result":"service_overlay"'
ovl_ctl "$dir" '{"op":"setup_service_overlay","service":"b","mode":"dedicated"}' | grep -q '"mode":"dedicated"'
ovl_ctl "$dir" "{\"op\":\"attach_container\",\"handle\":{\"platform\":\"linux_pid\",\"pid\":$cpid},\"service\":\"a\"}" | grep -q '"result":"attached"'
ip netns exec "${N}c" ip link show eth0 > /dev/null
[ -n "$(ls "$dir/attachments")" ]
ovl_ctl "$dir" '{"op":"shutdown"}' > /dev/null
ovl_wait_gone "$pid"
after=$(ovl_snapshot "$N")
[ "$after" = "$before" ] || { diff <(echo "$before") <(echo "$after"); exit 1; }
echo "full disk: err, nothing lost, and the host reverted cleanly afterwards"
