#include "ipc/validate.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ipc/codec.hpp"

using namespace overlayd;
using namespace overlayd::ipc;

namespace {

const std::string key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // bytes 0..31

std::string msg(const status& s) { return s ? std::string("<ok>") : s.err().message; }

// Decode then validate, as the gateway does.
std::string check_json(const std::string& json) {
  auto r = decode_request(json);
  if (!r) return "decode: " + r.err().message;
  return msg(validate(*r));
}

peer_spec good_peer() { return {key, "1.2.3.4:51820", "10.200.0.2/32, fd00::/64", 25, {}}; }

}  // namespace

TEST_CASE("a WireGuard key is strict base64 of exactly 32 bytes") {
  struct row {
    std::string text;
    bool ok;
  };
  const std::vector<row> table = {
      {key, true},
      {std::string(43, 'A') + "=", true},
      {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", false},    // 31 bytes
      {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", false},    // 33 bytes
      {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", false},     // missing padding
      {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", false},    // trailing bits set
      {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", false},  // trailing newline
      {" AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", false},   // leading space
      {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=", false},    // URL-safe alphabet
      {"", false},
      {"base64key", false},
      {"k", false},
  };
  for (const auto& t : table) {
    CAPTURE(t.text);
    CHECK(validate_wg_key("pubkey", t.text).ok() == t.ok);
  }
  CHECK(msg(validate_wg_key("public_key", "k")) ==
        "invalid field 'public_key': 'k' is not a base64 WireGuard key (32 bytes)");
}

TEST_CASE("valid requests of every op pass validation") {
  const std::vector<request> table = {
      req::set_local_node_id{1},
      req::set_local_wg_pubkey{key},
      req::setup_global_overlay{"prod", "42", "10.200.0.0/16", "10.200.0.0/28", 51820},
      req::setup_global_overlay{"prod", "42", "10.200.0.0/16", "10.200.0.0/16", 1},
      req::setup_global_overlay{"prod", "", "fd00:200::/48", "fd00:200::/120", 1},
      req::setup_global_overlay{"prod", "42", "10.200.0.5/16", std::nullopt, 51820},  // host bits
      req::setup_global_overlay{"prod", "42", "10.0.0.0/8", std::nullopt, 51820},     // holds 10.200.0.1
      req::teardown_global_overlay{},
      req::setup_service_overlay{"web", overlay_mode::dedicated},
      req::setup_service_overlay{std::string(253, 's'), overlay_mode::auto_},
      req::setup_global_overlay{"prod", "42", "10.200.0.0/16", "10.200.0.4/30", 1},
      req::setup_global_overlay{"prod", "42", "fd00::/48", "fd00::/126", 1},
      req::teardown_service_overlay{"web"},
      req::allocate_ip{"web", true},
      req::release_ip{net::ip_address::parse("10.200.0.9").value()},
      req::attach_container{linux_pid{4242}, "web"},
      req::attach_container{windows_container{"c1"}, "web"},
      req::attach_container{host_shared{"h"}, "web"},
      req::attach_container{guest_managed{"g"}, "web"},
      req::attach_container{guest_managed{"g"}, "web", true, std::nullopt, std::string("corp."), false,
                            std::string("n1")},
      req::attach_container{guest_managed{"g"}, "web", true, std::nullopt, std::string(63, 'x') + ".y_z-1"},
      req::detach_container{linux_pid{1}},
      req::add_peer{good_peer()},
      req::add_peer{{key, "[fd00::1]:51820", "", 0,
                     {{"host", "192.168.1.5:51820", 100},
                      {"server-reflexive", "[2001:db8::1]:4000", 50},
                      {"relay", "10.0.0.1:3478", 1}}},
                    peer_scope{"web"}, true},
      req::remove_peer{key, peer_scope{"web"}},
      req::add_allowed_ip{key, "10.0.0.0/24"},
      req::remove_allowed_ip{key, "fd00::/64"},
      req::register_dns{"web.overlay", net::ip_address::parse("10.200.0.9").value()},
      req::unregister_dns{"web.overlay"},
      req::write_scoped_resolver{"overlay", net::ip_address::parse("10.200.0.1").value(), 53},
      req::write_scoped_resolver{"overlay", net::ip_address::parse("10.200.0.1").value()},
      req::remove_scoped_resolver{"overlay"},
      req::prune_orphan_bridges{},
      req::status{},
      req::nat_tick{},
      req::nat_status{},
      req::shutdown{},
  };
  for (const auto& r : table) {
    CAPTURE(encode_request(r));
    CHECK(msg(validate(r)) == "<ok>");
  }
}

TEST_CASE("invalid requests are refused with a message naming the field and the value") {
  const std::string K = "\"" + key + "\"";
  struct row {
    std::string json;
    std::string message;
  };
  const std::vector<row> table = {
      {R"({"op":"set_local_wg_pubkey","pubkey":"nope"})",
       "invalid field 'pubkey': 'nope' is not a base64 WireGuard key (32 bytes)"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.0.0/33","wg_port":1})",
       "invalid cluster CIDR 10.0.0/33: bad address"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.0.0.0/33","wg_port":1})",
       "invalid cluster CIDR 10.0.0.0/33: prefix length exceeds 32"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.0.0.0","wg_port":1})",
       "invalid cluster CIDR 10.0.0.0: missing '/prefix'"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.201.0.0/28","wg_port":1})",
       "invalid slice CIDR 10.201.0.0/28: not inside cluster CIDR 10.200.0.0/16"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.0.0.0/8","wg_port":1})",
       "invalid slice CIDR 10.0.0.0/8: not inside cluster CIDR 10.200.0.0/16"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","slice_cidr":"fd00::/120","wg_port":1})",
       "invalid slice CIDR fd00::/120: not the same address family as cluster CIDR 10.200.0.0/16"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/x","wg_port":1})",
       "invalid slice CIDR 10.200.0.0/x: bad prefix length"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","wg_port":0})",
       "invalid field 'wg_port': must not be 0"},
      {R"({"op":"setup_global_overlay","deployment":"","instance_id":"i","cluster_cidr":"10.200.0.0/16","wg_port":1})",
       "invalid field 'deployment': must not be empty"},
      {R"({"op":"setup_service_overlay","service":""})", "invalid field 'service': must not be empty"},
      {R"({"op":"teardown_service_overlay","service":""})", "invalid field 'service': must not be empty"},
      {R"({"op":"allocate_ip","service":""})", "invalid field 'service': must not be empty"},
      {R"({"op":"attach_container","handle":{"platform":"linux_pid","pid":0},"service":"s"})",
       "invalid field 'handle.pid': must not be 0"},
      {R"({"op":"attach_container","handle":{"platform":"linux_pid","pid":5},"service":""})",
       "invalid field 'service': must not be empty"},
      {R"({"op":"detach_container","handle":{"platform":"windows_container","container_id":""}})",
       "invalid field 'handle.container_id': must not be empty"},
      {R"({"op":"detach_container","handle":{"platform":"guest_managed","id":""}})",
       "invalid field 'handle.id': must not be empty"},
      {R"({"op":"add_peer","public_key":"base64key","endpoint":"1.2.3.4:51820","allowed_ips":"10.200.0.2/32","persistent_keepalive_secs":25})",
       "invalid field 'public_key': 'base64key' is not a base64 WireGuard key (32 bytes)"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4","allowed_ips":"","persistent_keepalive_secs":25})",
       "invalid peer endpoint 1.2.3.4: missing ':port'"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"fd00::1:51820","allowed_ips":"","persistent_keepalive_secs":25})",
       "invalid peer endpoint fd00::1:51820: IPv6 needs brackets: [v6]:port"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:65536","allowed_ips":"","persistent_keepalive_secs":25})",
       "invalid peer endpoint 1.2.3.4:65536: bad port"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"","allowed_ips":"","persistent_keepalive_secs":25})",
       "invalid peer endpoint : missing ':port'"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"10.0.0.1/32,10.0.0/8","persistent_keepalive_secs":25})",
       "invalid field 'allowed_ips': invalid CIDR '10.0.0/8': bad address"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":0,"candidates":[{"candidate_type":"host","address":"1.2.3.4:5","priority":1},{"candidate_type":"bogus","address":"1.2.3.4:5","priority":1}]})",
       "invalid field 'candidates[1].candidate_type': 'bogus' is not a candidate type (expected host, server-reflexive or relay)"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":0,"candidates":[{"candidate_type":"relay","address":"not-an-addr","priority":1}]})",
       "invalid field 'candidates[0].address': invalid endpoint 'not-an-addr': missing ':port'"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":0,"scope":{"scope":"service","service":""}})",
       "invalid field 'scope.service': must not be empty"},
      {R"({"op":"remove_peer","pubkey":""})",
       "invalid field 'pubkey': '' is not a base64 WireGuard key (32 bytes)"},
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.0.0.0/40"})",
       "invalid CIDR 10.0.0.0/40: prefix length exceeds 32"},
      {R"({"op":"remove_allowed_ip","pubkey":)" + K + R"(,"cidr":"fd00::"})",
       "invalid CIDR fd00::: missing '/prefix'"},
      {R"({"op":"add_allowed_ip","pubkey":"short","cidr":"10.0.0.0/8"})",
       "invalid field 'pubkey': 'short' is not a base64 WireGuard key (32 bytes)"},
      {R"({"op":"register_dns","name":"","ip":"10.0.0.1"})", "invalid field 'name': must not be empty"},
      {R"({"op":"unregister_dns","name":""})", "invalid field 'name': must not be empty"},
      {R"({"op":"write_scoped_resolver","zone":"","node_ip":"10.0.0.1"})",
       "invalid field 'zone': must not be empty"},
      {R"({"op":"write_scoped_resolver","zone":"z","node_ip":"10.0.0.1","port":0})",
       "invalid field 'port': must not be 0"},
      {R"({"op":"remove_scoped_resolver","zone":""})", "invalid field 'zone': must not be empty"},
      // No slice: the default slice's node IP must be inside the cluster.
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"192.168.0.0/16","wg_port":1})",
       "slice_cidr is required: cluster CIDR 192.168.0.0/16 does not contain the default node slice 10.200.0.0/16"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"fd00::/48","wg_port":1})",
       "slice_cidr is required: cluster CIDR fd00::/48 does not contain the default node slice 10.200.0.0/16"},
      // Slices with no room for the node IP and a container.
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.5/32","wg_port":1})",
       "invalid slice CIDR 10.200.0.5/32: too small for the node IP and a container (at most /30)"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.4/31","wg_port":1})",
       "invalid slice CIDR 10.200.0.4/31: too small for the node IP and a container (at most /30)"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"fd00::/48","slice_cidr":"fd00::/127","wg_port":1})",
       "invalid slice CIDR fd00::/127: too small for the node IP and a container (at most /126)"},
      // Names: bounded, no control characters, the shared bridge's key reserved.
      {R"({"op":"setup_service_overlay","service":")" + std::string(254, 'a') + R"("})",
       "invalid field 'service': '" + std::string(64, 'a') + "...' is longer than 253 bytes"},
      {R"({"op":"allocate_ip","service":"we\nb"})", "invalid field 'service': 'we\\x0ab' contains a control character"},
      {R"({"op":"setup_service_overlay","service":"__zlayer_shared_bridge__","mode":"shared"})",
       "invalid field 'service': '__zlayer_shared_bridge__' is reserved for the node-wide shared bridge"},
      {R"({"op":"teardown_service_overlay","service":"__zlayer_shared_bridge__"})",
       "invalid field 'service': '__zlayer_shared_bridge__' is reserved for the node-wide shared bridge"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i\u0000","cluster_cidr":"10.200.0.0/16","wg_port":1})",
       "invalid field 'instance_id': 'i\\x00' contains a control character"},
      {R"({"op":"attach_container","handle":{"platform":"guest_managed","id":"g"},"service":"s","isolation_network":""})",
       "invalid field 'isolation_network': must not be empty"},
      // The host layer's rule (net/names.hpp), checked here first: 128 bytes
      // pass the edge, 129 do not; no bytes outside printable ASCII.
      {R"({"op":"attach_container","handle":{"platform":"guest_managed","id":"g"},"service":"s","isolation_network":")" + std::string(129, 'n') + R"("})",
       "invalid field 'isolation_network': '" + std::string(64, 'n') + "...' is longer than 128 bytes"},
      {R"({"op":"attach_container","handle":{"platform":"guest_managed","id":"g"},"service":"s","isolation_network":"réd"})",
       "invalid field 'isolation_network': 'r\xc3\xa9" "d' must be printable ASCII (bytes 0x20..0x7e)"},
      {R"({"op":"attach_container","handle":{"platform":"host_shared","id":"h"},"service":"s","dns_domain":"a..b"})",
       "invalid field 'dns_domain': 'a..b' has an empty label"},
      {R"({"op":"attach_container","handle":{"platform":"host_shared","id":"h"},"service":"s","dns_domain":"."})",
       "invalid field 'dns_domain': '.' is not a DNS domain (empty or the root)"},
      {R"({"op":"attach_container","handle":{"platform":"host_shared","id":"h"},"service":"s","dns_domain":"co rp"})",
       "invalid field 'dns_domain': 'co rp': only letters, digits, '-' and '_' in labels"},
      {R"({"op":"attach_container","handle":{"platform":"host_shared","id":"h"},"service":"s","dns_domain":")" + std::string(64, 'x') + R"("})",
       "invalid field 'dns_domain': '" + std::string(64, 'x') + "' has a label longer than 63 bytes"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":65536})",
       "invalid field 'persistent_keepalive_secs': 65536 exceeds 65535"},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":0,"scope":{"scope":"service","service":"__zlayer_shared_bridge__"}})",
       "invalid field 'scope.service': '__zlayer_shared_bridge__' is reserved for the node-wide shared bridge"},
  };
  for (const auto& t : table) {
    CAPTURE(t.json);
    CHECK(check_json(t.json) == t.message);
  }
}

TEST_CASE("a huge bad value is quoted cut short") {
  std::string big(5000, 'Q');
  auto s = validate(req::set_local_wg_pubkey{big});
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().code == errc::invalid_argument);
  CHECK(s.err().message ==
        "invalid field 'pubkey': '" + std::string(64, 'Q') + "...' is not a base64 WireGuard key (32 bytes)");
}
