// Bad input across every request of the IPC contract, through the whole
// engine: each row is a request as the agent would send it (the JSON body of
// a frame), decoded and served exactly as the Unix-socket server does (a
// decode error is the `err` it answers; a decoded request goes to
// engine::call). Each must be answered `err` with a message naming the
// offending field or value, and afterwards the engine must still answer
// `status` with the very snapshot it gave before: bad input changes nothing.
//
// Rows that need a live global overlay (attach by pid, dedicated services,
// peers on a device) run as root in a network namespace of their own.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ipc/codec.hpp"
#include "ipc/engine_test_util.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
using namespace overlayd::ipc::testing;

namespace {

struct row {
  std::string json;                 // the request object
  std::vector<std::string> wants;   // substrings the err must contain
};

const std::string K = "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"";

std::string peer(const std::string& extra) {
  return R"({"op":"add_peer","public_key":)" + K +
         R"(,"endpoint":"1.2.3.4:51820","allowed_ips":"10.200.9.0/24","persistent_keepalive_secs":25)" + extra + "}";
}
std::string global(const std::string& fields) {
  return R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i",)" + fields + "}";
}
std::string attach(const std::string& handle, const std::string& extra = "") {
  return R"({"op":"attach_container","handle":)" + handle + R"(,"service":"web")" + extra + "}";
}
const std::string long_name(300, 'n');
std::string unquoted(const std::string& q) { return q.substr(1, q.size() - 2); }

// Decode + serve, as ipc/unix_server.cpp does for one frame's body.
response serve(engine& e, const std::string& json) {
  auto r = decode_request(json);
  if (!r) return resp::err{r.err().message};
  return e.call(std::move(r).value());
}

void run_table(engine& e, const std::vector<row>& table) {
  auto snap = [&] {
    auto s = e.call(req::status{});
    REQUIRE(std::holds_alternative<resp::status>(s));
    return std::get<resp::status>(s).snapshot;
  };
  const status_snapshot before = snap();
  for (const auto& t : table) {
    CAPTURE(t.json);
    const response r = serve(e, t.json);
    const std::string msg = err_of(r);
    CAPTURE(msg);
    CHECK(std::holds_alternative<resp::err>(r));
    for (const auto& w : t.wants) {
      CAPTURE(w);
      CHECK(contains(msg, w));
    }
    CHECK(snap() == before);
  }
  CHECK_FALSE(e.shutdown_requested());
}

// Every op, no global overlay: malformed fields, unknown enum strings,
// out-of-range numbers, bad CIDRs, keys and endpoints, empty, overlong and
// reserved names, and requests in the wrong order.
std::vector<row> table_without_overlay() {
  return {
      // set_local_node_id
      {R"({"op":"set_local_node_id","node_id":"seven"})", {"node_id", "seven"}},
      {R"({"op":"set_local_node_id","node_id":-1})", {"node_id", "-1"}},
      {R"({"op":"set_local_node_id"})", {"missing field 'node_id'"}},
      // set_local_wg_pubkey
      {R"({"op":"set_local_wg_pubkey","pubkey":"nope"})", {"pubkey", "'nope'", "WireGuard key"}},
      {R"({"op":"set_local_wg_pubkey","pubkey":""})", {"pubkey", "WireGuard key"}},
      {R"({"op":"set_local_wg_pubkey","pubkey":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"})",
       {"pubkey", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"}},
      // setup_global_overlay
      {global(R"("cluster_cidr":"10.0.0/33","wg_port":51820)"), {"invalid cluster CIDR 10.0.0/33"}},
      {global(R"("cluster_cidr":"banana","wg_port":51820)"), {"invalid cluster CIDR banana"}},
      {global(R"("cluster_cidr":"10.200.0.0","wg_port":51820)"), {"invalid cluster CIDR 10.200.0.0", "prefix"}},
      {global(R"("cluster_cidr":"fd00::/129","wg_port":51820)"), {"invalid cluster CIDR fd00::/129"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","slice_cidr":"10.201.0.0/28","wg_port":51820)"),
       {"invalid slice CIDR 10.201.0.0/28", "not inside cluster CIDR 10.200.0.0/16"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","slice_cidr":"fd00::/120","wg_port":51820)"),
       {"invalid slice CIDR fd00::/120", "address family"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.7/32","wg_port":51820)"),
       {"invalid slice CIDR 10.200.0.7/32", "too small"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/x","wg_port":51820)"),
       {"invalid slice CIDR 10.200.0.0/x"}},
      {global(R"("cluster_cidr":"192.168.0.0/16","wg_port":51820)"),
       {"slice_cidr is required", "192.168.0.0/16"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":0)"), {"wg_port", "must not be 0"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":70000)"), {"wg_port", "70000"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":-1)"), {"wg_port", "-1"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":"51820")"), {"wg_port", "\"51820\""}},
      {global(R"("cluster_cidr":"10.200.0.0/16")"), {"missing field 'wg_port'"}},
      {R"({"op":"setup_global_overlay","deployment":"","instance_id":"i","cluster_cidr":"10.200.0.0/16","wg_port":1})",
       {"deployment", "must not be empty"}},
      {R"({"op":"setup_global_overlay","deployment":")" + long_name +
           R"(","instance_id":"i","cluster_cidr":"10.200.0.0/16","wg_port":1})",
       {"deployment", "longer than 253 bytes"}},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"a\tb","cluster_cidr":"10.200.0.0/16","wg_port":1})",
       {"instance_id", "'a\\x09b'", "control character"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":1,"host_adapter_mandatory":"yes")"),
       {"host_adapter_mandatory", "\"yes\""}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":1,"nat":{"hole_punch_timeout_secs":-3})"),
       {"nat.hole_punch_timeout_secs", "-3"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":1,"nat":{"relay_server":{"listen_port":1}})"),
       {"missing field 'nat.relay_server.external_addr'"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":1,"nat":{"relay_server":{"listen_port":70000,"external_addr":"x"}})"),
       {"nat.relay_server.listen_port", "70000"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":1,"nat":{"stun_servers":["a",3]})"),
       {"nat.stun_servers[1]"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":1,"nat":{"turn_servers":[{"addr":"a"}]})"),
       {"missing field 'nat.turn_servers[0].username'"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","wg_port":1,"nat_enabled":0)"), {"nat_enabled"}},
      // teardown_global_overlay, status, nat_tick, nat_status, shutdown carry
      // no fields: their only bad input is a misspelt op (never acted on).
      {R"({"op":"teardown-global-overlay"})", {"unknown op 'teardown-global-overlay'"}},
      {R"({"op":"Status"})", {"unknown op 'Status'"}},
      {R"({"op":"nat_tock"})", {"unknown op 'nat_tock'"}},
      {R"({"op":"natstatus"})", {"unknown op 'natstatus'"}},
      {R"({"op":"shutdown "})", {"unknown op 'shutdown '"}},
      {R"({"op":"SHUTDOWN"})", {"unknown op 'SHUTDOWN'"}},
      {R"({"op":""})", {"unknown op ''"}},
      {R"({"op":5})", {"'op'", "5"}},
      // setup_service_overlay (wrong order: before the global overlay)
      {R"({"op":"setup_service_overlay","service":""})", {"service", "must not be empty"}},
      {R"({"op":"setup_service_overlay"})", {"missing field 'service'"}},
      {R"({"op":"setup_service_overlay","service":7})", {"service", "7"}},
      {R"({"op":"setup_service_overlay","service":")" + long_name + R"("})", {"service", "longer than 253 bytes"}},
      {R"({"op":"setup_service_overlay","service":"web\u0007"})", {"service", "'web\\x07'", "control character"}},
      {R"({"op":"setup_service_overlay","service":"__zlayer_shared_bridge__"})",
       {"service", "__zlayer_shared_bridge__", "reserved"}},
      {R"({"op":"setup_service_overlay","service":"web","mode":"turbo"})", {"mode", "turbo"}},
      {R"({"op":"setup_service_overlay","service":"web","mode":"Auto"})", {"mode", "Auto"}},
      {R"({"op":"setup_service_overlay","service":"web","mode":1})", {"mode"}},
      // teardown_service_overlay
      {R"({"op":"teardown_service_overlay","service":""})", {"service", "must not be empty"}},
      {R"({"op":"teardown_service_overlay"})", {"missing field 'service'"}},
      {R"({"op":"teardown_service_overlay","service":"__zlayer_shared_bridge__"})", {"service", "reserved"}},
      // allocate_ip
      {R"({"op":"allocate_ip","service":""})", {"service", "must not be empty"}},
      {R"({"op":"allocate_ip","service":"web","join_global":"yes"})", {"join_global", "\"yes\""}},
      {R"({"op":"allocate_ip","service":")" + long_name + R"("})", {"service", "longer than 253 bytes"}},
      // release_ip
      {R"({"op":"release_ip","ip":"10.0.0"})", {"'ip'", "10.0.0"}},
      {R"({"op":"release_ip","ip":"10.0.0.1/32"})", {"'ip'", "10.0.0.1/32"}},
      {R"({"op":"release_ip","ip":167772161})", {"'ip'", "167772161"}},
      {R"({"op":"release_ip"})", {"missing field 'ip'"}},
      // attach_container (wrong order for guest_managed and host_shared)
      {attach(R"({"platform":"guest_managed","id":"vm-1"})"), {"global overlay to be set up"}},
      {attach(R"({"platform":"host_shared","id":"h-1"})"), {"global overlay to be set up"}},
      {attach(R"({"platform":"windows_container","container_id":"c1"})"), {"windows_container", "not supported on Linux"}},
      {R"({"op":"attach_container","service":"web"})", {"missing field 'handle'"}},
      {attach(R"({"platform":"macos"})"), {"unknown platform 'macos'"}},
      {attach(R"({"pid":12})"), {"missing field 'handle.platform'"}},
      {attach(R"({"platform":"linux_pid","pid":0})"), {"handle.pid", "must not be 0"}},
      {attach(R"({"platform":"linux_pid","pid":4294967296})"), {"handle.pid", "4294967296"}},
      {attach(R"({"platform":"linux_pid","pid":-5})"), {"handle.pid", "-5"}},
      {attach(R"({"platform":"linux_pid","pid":"12"})"), {"handle.pid", "\"12\""}},
      {attach(R"({"platform":"linux_pid"})"), {"missing field 'handle.pid'"}},
      {attach(R"({"platform":"guest_managed","id":""})"), {"handle.id", "must not be empty"}},
      {attach(R"({"platform":"host_shared","id":")" + long_name + R"("})"), {"handle.id", "longer than 253 bytes"}},
      {attach(R"({"platform":"windows_container","container_id":"c","ip":"x"})"), {"handle.ip", "'x'"}},
      {R"({"op":"attach_container","handle":{"platform":"guest_managed","id":"g"},"service":""})",
       {"service", "must not be empty"}},
      {attach(R"({"platform":"guest_managed","id":"g"})", R"(,"dns_server":"10.0.0")"), {"dns_server", "10.0.0"}},
      {attach(R"({"platform":"guest_managed","id":"g"})", R"(,"dns_domain":"a..b")"), {"dns_domain", "a..b"}},
      {attach(R"({"platform":"guest_managed","id":"g"})", R"(,"dns_domain":"")"), {"dns_domain"}},
      {attach(R"({"platform":"guest_managed","id":"g"})", R"(,"isolation_network":"")"),
       {"isolation_network", "must not be empty"}},
      {attach(R"({"platform":"guest_managed","id":"g"})", R"(,"ephemeral":"true")"), {"ephemeral", "\"true\""}},
      // detach_container
      {R"({"op":"detach_container","handle":{"platform":"linux_pid","pid":0}})", {"handle.pid", "must not be 0"}},
      {R"({"op":"detach_container","handle":{"platform":"guest_managed","id":""}})", {"handle.id", "must not be empty"}},
      {R"({"op":"detach_container","handle":{"platform":"bsd_jail","id":"j"}})", {"unknown platform 'bsd_jail'"}},
      {R"({"op":"detach_container"})", {"missing field 'handle'"}},
      // add_peer (wrong order: service scope with no dedicated overlay)
      {R"({"op":"add_peer","public_key":"base64key","endpoint":"1.2.3.4:51820","allowed_ips":"10.200.0.2/32","persistent_keepalive_secs":25})",
       {"public_key", "base64key"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4","allowed_ips":"","persistent_keepalive_secs":25})",
       {"invalid peer endpoint 1.2.3.4", "port"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"fd00::1:51820","allowed_ips":"","persistent_keepalive_secs":25})",
       {"invalid peer endpoint fd00::1:51820"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:65536","allowed_ips":"","persistent_keepalive_secs":25})",
       {"invalid peer endpoint 1.2.3.4:65536", "port"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"nowhere","allowed_ips":"","persistent_keepalive_secs":25})",
       {"invalid peer endpoint nowhere"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"10.0.0.1/32,10.0.0/8","persistent_keepalive_secs":25})",
       {"allowed_ips", "10.0.0/8"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"10.0.0.0/33","persistent_keepalive_secs":25})",
       {"allowed_ips", "10.0.0.0/33"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":65536})",
       {"persistent_keepalive_secs", "65536"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":-1})",
       {"persistent_keepalive_secs", "-1"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":""})",
       {"missing field 'persistent_keepalive_secs'"}},
      {peer(R"(,"candidates":[{"candidate_type":"bogus","address":"1.2.3.4:5","priority":1}])"),
       {"candidates[0].candidate_type", "bogus"}},
      {peer(R"(,"candidates":[{"candidate_type":"host","address":"not-an-addr","priority":1}])"),
       {"candidates[0].address", "not-an-addr"}},
      {peer(R"(,"candidates":[{"candidate_type":"host","address":"1.2.3.4:5","priority":-1}])"),
       {"candidates[0].priority", "-1"}},
      {peer(R"(,"scope":{"scope":"planet"})"), {"unknown scope 'planet'"}},
      {peer(R"(,"scope":{"scope":"service","service":""})"), {"scope.service", "must not be empty"}},
      {peer(R"(,"scope":{"scope":"service"})"), {"missing field 'scope.service'"}},
      {peer(R"(,"scope":{"scope":"service","service":"web"})"), {"no dedicated overlay for service web"}},
      // remove_peer
      {R"({"op":"remove_peer","pubkey":""})", {"pubkey", "WireGuard key"}},
      {R"({"op":"remove_peer","pubkey":"k=="})", {"pubkey", "'k=='"}},
      {R"({"op":"remove_peer","pubkey":)" + K + R"(,"scope":"global"})", {"'scope'", "\"global\""}},
      {R"({"op":"remove_peer","pubkey":)" + K + R"(,"scope":{"scope":"service","service":"web"}})",
       {"no dedicated overlay for service web"}},
      // add_allowed_ip / remove_allowed_ip
      {R"({"op":"add_allowed_ip","pubkey":"short","cidr":"10.0.0.0/8"})", {"pubkey", "'short'"}},
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.0.0.0/40"})", {"invalid CIDR 10.0.0.0/40"}},
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(,"cidr":"banana"})", {"invalid CIDR banana"}},
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(})", {"missing field 'cidr'"}},
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.1.0.0/24","scope":{"scope":"service","service":"web"}})",
       {"no dedicated overlay for service web"}},
      {R"({"op":"remove_allowed_ip","pubkey":)" + K + R"(,"cidr":"fd00::"})", {"invalid CIDR fd00::"}},
      {R"({"op":"remove_allowed_ip","pubkey":"","cidr":"10.0.0.0/8"})", {"pubkey"}},
      {R"({"op":"remove_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.1.0.0/24","scope":{"scope":"service","service":"db"}})",
       {"no dedicated overlay for service db"}},
      // register_dns / unregister_dns
      {R"({"op":"register_dns","name":"","ip":"10.0.0.1"})", {"'name'", "must not be empty"}},
      {R"({"op":"register_dns","name":"web","ip":"x"})", {"'ip'", "'x'"}},
      {R"({"op":"register_dns","name":"a..b","ip":"10.0.0.1"})", {"register_dns(a..b)"}},
      {R"({"op":"register_dns","name":"we b","ip":"10.0.0.1"})", {"we b", "letters, digits"}},
      {R"({"op":"register_dns","name":")" + long_name + R"(","ip":"10.0.0.1"})", {"'name'", "longer than 253 bytes"}},
      {R"({"op":"unregister_dns","name":""})", {"'name'", "must not be empty"}},
      {R"({"op":"unregister_dns"})", {"missing field 'name'"}},
      // write_scoped_resolver / remove_scoped_resolver (macOS-only on Linux)
      {R"({"op":"write_scoped_resolver","zone":"","node_ip":"10.0.0.1"})", {"'zone'", "must not be empty"}},
      {R"({"op":"write_scoped_resolver","zone":"z","node_ip":"10.0.0.1","port":0})", {"'port'", "must not be 0"}},
      {R"({"op":"write_scoped_resolver","zone":"z","node_ip":"10.0.0.1","port":70000})", {"'port'", "70000"}},
      {R"({"op":"write_scoped_resolver","zone":"z","node_ip":"localhost"})", {"node_ip", "localhost"}},
      {R"({"op":"write_scoped_resolver","zone":"overlay","node_ip":"10.0.0.1"})", {"write_scoped_resolver(overlay)", "macOS"}},
      {R"({"op":"remove_scoped_resolver","zone":""})", {"'zone'", "must not be empty"}},
      {R"({"op":"remove_scoped_resolver","zone":"overlay"})", {"remove_scoped_resolver(overlay)", "macOS"}},
      // prune_orphan_bridges
      {R"({"op":"prune_orphan_bridges"})", {"missing field 'live_bridge_names'"}},
      {R"({"op":"prune_orphan_bridges","live_bridge_names":"zl-a-b"})", {"live_bridge_names", "zl-a-b"}},
      {R"({"op":"prune_orphan_bridges","live_bridge_names":[1]})", {"live_bridge_names[0]"}},
  };
}

// With the global overlay up, services in auto and dedicated modes and a
// guest attached: what only a live engine can refuse.
std::vector<row> table_with_overlay(const std::string& guest_key) {
  const std::string gk = "\"" + guest_key + "\"";
  return {
      {R"({"op":"attach_container","handle":{"platform":"linux_pid","pid":4242},"service":"nosuch"})",
       {"no service bridge for service nosuch", "setup_service_overlay"}},
      {R"({"op":"attach_container","handle":{"platform":"linux_pid","pid":999999999},"service":"web"})",
       {"/proc/999999999/ns/net"}},
      {R"({"op":"attach_container","handle":{"platform":"guest_managed","id":"vm-1"},"service":"other"})",
       {"guest vm-1 is already attached to service web"}},
      {peer(R"(,"scope":{"scope":"service","service":"web"})"), {"no dedicated overlay for service web"}},
      {R"({"op":"remove_peer","pubkey":)" + K + R"(,"scope":{"scope":"service","service":"nosuch"}})",
       {"no dedicated overlay for service nosuch"}},
      {R"({"op":"add_allowed_ip","pubkey":)" + gk + R"(,"cidr":"10.1.0.0/24","scope":{"scope":"service","service":"nosuch"}})",
       {"no dedicated overlay for service nosuch"}},
      // A key the device does not know.
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.1.0.0/24"})",
       {"add_allowed_ip failed", "no such peer " + unquoted(K)}},
      {R"({"op":"remove_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.1.0.0/24"})",
       {"remove_allowed_ip failed", "no such peer " + unquoted(K)}},
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.1.0.0/24","scope":{"scope":"service","service":"db"}})",
       {"add_allowed_ip failed", "no such peer " + unquoted(K)}},
      {R"({"op":"setup_service_overlay","service":"__zlayer_shared_bridge__","mode":"shared"})",
       {"service", "reserved"}},
      {global(R"("cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/31","wg_port":51420)"),
       {"invalid slice CIDR 10.200.0.0/31", "too small"}},
  };
}

}  // namespace

TEST_CASE("every request's bad input is answered err naming the field or value, and changes nothing") {
  engine_config cfg;
  cfg.data_dir = temp_dir("bad-input");
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  run_table(**eng, table_without_overlay());
  // The engine still does real work afterwards.
  auto ip = (*eng)->call(req::allocate_ip{"web", false});
  REQUIRE(std::holds_alternative<resp::ip>(ip));
  CHECK(std::get<resp::ip>(ip).ip.to_string() == "10.200.0.2");
  (*eng)->stop();
  std::filesystem::remove_all(cfg.data_dir);
}

TEST_CASE("bad input against a live overlay is answered err naming it, and changes nothing" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    scoped_engine e("bad-input-live");
    auto g = e.call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/26", 51420});
    REQUIRE_MESSAGE(std::holds_alternative<resp::bridge_name>(g), err_of(g));
    REQUIRE(std::holds_alternative<resp::service_overlay>(
        e.call(req::setup_service_overlay{"web", overlay_mode::auto_})));
    REQUIRE(std::holds_alternative<resp::service_overlay>(
        e.call(req::setup_service_overlay{"db", overlay_mode::dedicated})));
    req::attach_container a;
    a.handle = guest_managed{"vm-1"};
    a.service = "web";
    auto gc = e.call(a);
    REQUIRE_MESSAGE(std::holds_alternative<resp::guest_config>(gc), err_of(gc));
    run_table(*e.eng, table_with_overlay(std::get<resp::guest_config>(gc).config.public_key));
    // Still serving real requests.
    auto h = e.call(req::attach_container{host_shared{"h-1"}, "web"});
    CHECK(std::holds_alternative<resp::attached>(h));
  });
}
