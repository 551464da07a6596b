#!/usr/bin/env bash
# overlayctl against a real daemon: subcommands for the requests, table views
# and --json, the trace tree and its filters (--service: the request's own
# service), and the exit codes (0 ok, 1 err, 2 unreachable).
#
#   ns N: overlayd --http 127.0.0.1:7420   <-   overlayctl (in N)
#
tag=oc$$
. "$(dirname "$0")/lib/one_node.bash"
start_daemon --http 127.0.0.1:7420
C() { ip netns exec "$N" "$BUILD_DIR/overlayctl" --socket "$tmp/ipc.sock" --timeout-ms 10000 "$@"; }
rc() { set +e; "$@" > "$tmp/out" 2> "$tmp/err"; local r=$?; set -e; echo $r; }

C node id 3 | grep -q '"result":"ok"'
C global up --cluster 10.210.0.0/16 --slice 10.210.3.0/24 --deployment "$tag" | grep -q '"result":"bridge_name"'
C service add web | grep -q '"mode":"auto"'
C service add db --mode dedicated | grep -q '"wg_port":51421'
container "ovl${tag}c1"
ip=$(C attach --pid "$cpid" --service web | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])')
K=$(python3 -c 'import base64; print(base64.b64encode(bytes(range(32))).decode())')
C peer add "$K" --endpoint 127.0.0.1:51999 --allowed-ips 10.210.4.0/24 --keepalive 0 | grep -q ok
C allowed-ip add "$K" 10.210.5.0/24 | grep -q ok
C dns add web-1 "$ip" | grep -q ok

# Views: tables by default, JSON with --json.
C status > "$tmp/status"; grep -q "^cluster: *10.210.0.0/16" "$tmp/status"; grep -q "^db " "$tmp/status"
C --json status | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["slice_cidr"]=="10.210.3.0/24", s'
C services > "$tmp/services"
grep -qE "^web +auto +10\.210\.[0-9]+\.[0-9]+/26 .* 1 +-$" "$tmp/services" || { cat "$tmp/services"; exit 1; }
grep -qE "^db +dedicated .*:51421$" "$tmp/services" || { cat "$tmp/services"; exit 1; }
C services --json | python3 -c 'import json,sys; assert {r["service"] for r in json.load(sys.stdin)} == {"web","db"}'
C peers > "$tmp/peers"
grep -q "$K" "$tmp/peers"; grep -q "10.210.4.0/24,10.210.5.0/24" "$tmp/peers"; grep -q "never" "$tmp/peers"
C peers --json | python3 -c 'import json,sys; [p]=[p for p in json.load(sys.stdin) if p["public_key"]==sys.argv[1]]; assert p["rx_bytes"]==0' "$K"
C nat > "$tmp/nat"; grep -q "^CANDIDATE" "$tmp/nat"
C dns > "$tmp/dns"; grep -q "^domains: overlay" "$tmp/dns"; grep -qE "^web-1 +$ip$" "$tmp/dns" || { cat "$tmp/dns"; exit 1; }

# The trace: a tree per request, filterable.
C trace --op attach_container > "$tmp/trace"
grep -qE "^request [0-9]+  attach_container  " "$tmp/trace" || { cat "$tmp/trace"; exit 1; }
grep -q "gateway → supervisor" "$tmp/trace"
grep -q "supervisor → service_overlay" "$tmp/trace"
! grep -q "setup_service_overlay" "$tmp/trace"
[ -z "$(C trace --slower-than 100s)" ]
# --service: requests whose records name that service, each with all its
# hops; not another service's, not requests naming none.
C trace --service web > "$tmp/trace-web"
grep -qE "^request [0-9]+  setup_service_overlay  service web  " "$tmp/trace-web" || { cat "$tmp/trace-web"; exit 1; }
grep -qE "^request [0-9]+  attach_container  service web  " "$tmp/trace-web" || { cat "$tmp/trace-web"; exit 1; }
grep -q "supervisor → service_overlay" "$tmp/trace-web"
! grep -q "service db" "$tmp/trace-web"
! grep -qE "^request [0-9]+  (set_local_node_id|setup_global_overlay|add_peer|register_dns)  " "$tmp/trace-web"
C trace --service db > "$tmp/trace-db"
grep -qE "^request [0-9]+  setup_service_overlay  service db  " "$tmp/trace-db" || { cat "$tmp/trace-db"; exit 1; }
! grep -q "service web" "$tmp/trace-db"
[ -z "$(C trace --service nosuch)" ]
# Against the whole trace: the same requests, each with every one of its hops.
C --json trace > "$tmp/trace-all.json"
C --json trace --service web > "$tmp/trace-web.json"
python3 - "$tmp/trace-all.json" "$tmp/trace-web.json" <<'PY'
import collections, json, sys
full, web = (json.load(open(p))["records"] for p in sys.argv[1:3])
hops = collections.Counter(r["correlation"] for r in full if r["correlation"])
named = {r["correlation"] for r in full if r.get("service") == "web"}
ops = {r["correlation"]: r["type"].split(":")[-1] for r in full if r["sender"]["name"] == "external" and r["correlation"]}
assert {ops[c] for c in named} == {"setup_service_overlay", "attach_container"}, {c: ops.get(c) for c in named}
got = collections.Counter(r["correlation"] for r in web)
assert set(got) == named, (got, named)
assert all(got[c] == hops[c] for c in named), (got, hops)
assert all(r.get("service") == "web" for r in web), web
PY
grep -qE "^request [0-9]+  setup_service_overlay  service db  " <(C trace) || { C trace; exit 1; }
C trace --perfetto "$tmp/p.json" | grep -q "^wrote"
python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["traceEvents"]; assert any(x["ph"]=="s" for x in e) and any(x["ph"]=="f" for x in e)' "$tmp/p.json"
timeout 3 ip netns exec "$N" "$BUILD_DIR/overlayctl" trace --follow > "$tmp/follow" 2>&1 &
fpid=$!
sleep 0.8
C ip alloc web > /dev/null
wait $fpid || true
grep -qE "^request [0-9]+  allocate_ip" "$tmp/follow" || { echo "follow did not stream"; cat "$tmp/follow"; exit 1; }

# Exit codes: 1 for an err answer (message on stderr), 2 unreachable or bad usage.
[ "$(rc C allowed-ip add "$K" 10.210.0.0/16)" = 1 ]; grep -q "refused" "$tmp/err"
[ "$(rc C service add bad --mode turbo)" = 2 ]
[ "$(rc C attach --service web)" = 2 ]
[ "$(rc ip netns exec "$N" "$BUILD_DIR/overlayctl" --socket "$tmp/nope.sock" --timeout-ms 200 status)" = 2 ]
[ "$(rc ip netns exec "$N" "$BUILD_DIR/overlayctl" --http 127.0.0.1:1 services)" = 2 ]
[ "$(rc C call '{"op":"teardown_service_overlay","service":""}')" = 1 ]; grep -q '"result":"err"' "$tmp/out"

# Completion: the script loads and completes subcommands.
bash -c ". '$(dirname "$0")/../../dist/overlayctl.bash-completion'; COMP_WORDS=(overlayctl ser); COMP_CWORD=1; _overlayctl; echo \"\${COMPREPLY[*]}\"" | grep -qw services

C detach --pid "$cpid" | grep -q ok
C shutdown | grep -q ok
echo "overlayctl: requests, views, trace and exit codes"
