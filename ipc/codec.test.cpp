#include "ipc/codec.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace overlayd;
using namespace overlayd::ipc;

namespace {

net::ip_address ip(const char* s) { return net::ip_address::parse(s).value(); }

std::string error_of(const result<request>& r) { return r ? std::string("<ok>") : r.err().message; }

// A request that exercises every field of its op (optionals present).
std::vector<request> full_requests() {
  nat_config_spec nat;
  nat.enabled = true;
  nat.stun_servers = {"127.0.0.1:3478", "[::1]:3478"};
  nat.turn_servers = {{"127.0.0.1:3479", "user", "pass"}};
  nat.hole_punch_timeout_secs = 15;
  nat.stun_refresh_interval_secs = 60;
  nat.max_candidate_pairs = 10;
  nat.relay_server = relay_server_spec{3478, "198.51.100.1:3478", 100, "secret"};
  peer_spec peer{"k1", "[fd00::1]:51820", "10.200.0.2/32,fd00::2/128", 25,
                 {{"host", "192.168.1.5:51820", 100}, {"relay", "10.0.0.1:3478", 1}}};
  return {
      req::set_local_node_id{UINT64_MAX},
      req::set_local_wg_pubkey{"pk"},
      req::setup_global_overlay{"prod", "42", "10.200.0.0/16", "10.200.0.0/28", 51820, nat, true,
                                false},
      req::teardown_global_overlay{},
      req::setup_service_overlay{"web", overlay_mode::dedicated},
      req::setup_service_overlay{"web", overlay_mode::isolated},
      req::setup_service_overlay{"web", overlay_mode::shared},
      req::teardown_service_overlay{"web"},
      req::allocate_ip{"web", true},
      req::release_ip{ip("fd00::5")},
      req::attach_container{linux_pid{4242}, "web", true, ip("10.200.0.1"), "overlay.local", true,
                            "iso-a"},
      req::attach_container{windows_container{"c0ffee", ip("10.1.2.3")}, "web", false},
      req::attach_container{host_shared{"h1"}, "web"},
      req::attach_container{guest_managed{"g1"}, "web"},
      req::detach_container{windows_container{"c0ffee", std::nullopt}},
      req::detach_container{guest_managed{"g1"}},
      req::add_peer{peer, peer_scope{"web"}, true},
      req::add_peer{peer, peer_scope{}, true},
      req::remove_peer{"k1", peer_scope{"web"}, true},
      req::add_allowed_ip{"k1", "10.0.0.0/24", peer_scope{}, true},
      req::remove_allowed_ip{"k1", "10.0.0.0/24", peer_scope{"db"}, true},
      req::register_dns{"web.local", ip("10.200.0.9")},
      req::unregister_dns{"web.local"},
      req::write_scoped_resolver{"overlay.local", ip("10.200.0.1"), 5353},
      req::remove_scoped_resolver{"overlay.local"},
      req::prune_orphan_bridges{{"zl-a", "zl-b"}},
      req::status{},
      req::nat_tick{},
      req::nat_status{},
      req::shutdown{},
  };
}

// The same ops with every optional absent and every [d] field at its default.
std::vector<request> minimal_requests() {
  return {
      req::set_local_node_id{0},
      req::setup_global_overlay{"d", "i", "10.0.0.0/8", std::nullopt, 1},
      req::setup_global_overlay{"d", "i", "10.0.0.0/8", std::nullopt, 1, nat_config_spec{}},
      req::setup_global_overlay{"d", "i", "10.0.0.0/8", std::nullopt, 1,
                                nat_config_spec{false, {}, {}, 0, 0, 0,
                                                relay_server_spec{1, "x", 0, std::nullopt}}},
      req::setup_service_overlay{"web"},
      req::allocate_ip{"web"},
      req::attach_container{linux_pid{1}, "web"},
      req::detach_container{linux_pid{1}},
      req::add_peer{peer_spec{"k", "1.2.3.4:5", "", 0, {}}, peer_scope{}, false},
      req::remove_peer{"k"},
      req::add_allowed_ip{"k", "10.0.0.1/32"},
      req::remove_allowed_ip{"k", "10.0.0.1/32"},
      req::write_scoped_resolver{"z", ip("::1"), std::nullopt},
      req::prune_orphan_bridges{},
  };
}

std::vector<response> all_responses() {
  peer_spec peer{"k2", "1.2.3.4:51820", "10.200.0.2/32", 0, {}};
  status_snapshot full{"zl-g",
                       ip("10.200.0.1"),
                       "pub",
                       "10.200.0.0/16",
                       "10.200.0.0/28",
                       2,
                       1,
                       {{"k2", "1.2.3.4:51820", "10.200.0.2/32", 1700000000},
                        {"k3", "", "", 0}, {"k4", "[::1]:1", "fd00::/64", -5}},
                       {{"web", "zl-d", "pubd", 51421, ip("10.200.64.1"), "10.200.64.0/26", 3}}};
  return {
      resp::ok{},
      resp::bridge_name{"zl-prod-42-g"},
      resp::service_overlay{{"zl-b", overlay_mode::shared}},
      resp::service_overlay{
          {"zl-d", overlay_mode::dedicated, "svc", 51421, ip("10.200.64.1"), "10.200.64.0/26"}},
      resp::ip{ip("10.200.0.7")},
      resp::attached{{ip("10.200.37.18"), std::nullopt}},
      resp::attached{{ip("fd00::18"), "guid-1"}},
      resp::guest_config{{ip("10.200.0.8"), 16, "priv", "pub", 51820, {peer, peer}, ip("10.200.0.1"),
                          "overlay.local"}},
      resp::guest_config{{ip("10.200.0.8"), 16, "priv", "pub", 51820, {}, std::nullopt,
                          std::nullopt}},
      resp::pruned_bridges{{"zl-x"}},
      resp::pruned_bridges{},
      resp::status{},
      resp::status{full},
      resp::nat_status{},
      resp::nat_status{{{{"server-reflexive", "203.0.113.5:51820", 50}},
                        {{"k2", "hole-punched", "203.0.113.5:51820"}, {"k3", "relayed", std::nullopt}},
                        1700000000}},
      resp::err{"global overlay not set up"},
  };
}

std::vector<event> all_events() {
  return {ev::peer_health_changed{"k", true}, ev::peer_health_changed{"k", false},
          ev::nat_endpoint_changed{"k", "1.2.3.4:5"}};
}

}  // namespace

TEST_CASE("each example frame of the spec encodes to exactly its bytes and decodes back") {
  struct golden {
    const char* text;
    frame value;
  };
  const std::vector<golden> table = {
      {R"({"frame":"request","id":1,"request":{"op":"setup_global_overlay","deployment":"prod","instance_id":"42","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/28","wg_port":51820,"host_adapter_mandatory":false}})",
       request_frame{1, req::setup_global_overlay{"prod", "42", "10.200.0.0/16", "10.200.0.0/28",
                                                  51820}}},
      {R"({"frame":"request","id":11,"request":{"op":"add_peer","public_key":"base64key","endpoint":"1.2.3.4:51820","allowed_ips":"10.200.0.2/32","persistent_keepalive_secs":25}})",
       request_frame{11, req::add_peer{{"base64key", "1.2.3.4:51820", "10.200.0.2/32", 25, {}}}}},
      {R"({"frame":"request","id":12,"request":{"op":"add_peer","public_key":"k","endpoint":"1.2.3.4:51820","allowed_ips":"10.200.0.2/32","persistent_keepalive_secs":25,"scope":{"scope":"service","service":"web"}}})",
       request_frame{12, req::add_peer{{"k", "1.2.3.4:51820", "10.200.0.2/32", 25, {}},
                                       peer_scope{"web"}, true}}},
      {R"({"frame":"request","id":3,"request":{"op":"attach_container","handle":{"platform":"linux_pid","pid":4242},"service":"web","join_global":true}})",
       request_frame{3, req::attach_container{linux_pid{4242}, "web", true}}},
      {R"({"frame":"response","id":3,"response":{"result":"attached","ip":"10.200.37.18"}})",
       response_frame{3, resp::attached{{ip("10.200.37.18")}}}},
      {R"({"frame":"response","id":1,"response":{"result":"status","peer_count":0,"service_count":0}})",
       response_frame{1, resp::status{}}},
      {R"({"frame":"response","id":21,"response":{"result":"service_overlay","name":"zl-prod-0-web-b","mode":"dedicated","wg_public_key":"svc-key","wg_port":51421,"overlay_ip":"10.200.64.1","subnet":"10.200.64.0/26"}})",
       response_frame{21, resp::service_overlay{{"zl-prod-0-web-b", overlay_mode::dedicated,
                                                 "svc-key", 51421, ip("10.200.64.1"),
                                                 "10.200.64.0/26"}}}},
      {R"({"frame":"response","id":9,"response":{"result":"err","message":"global overlay not set up"}})",
       response_frame{9, resp::err{"global overlay not set up"}}},
      {R"({"frame":"event","event":"peer_health_changed","pubkey":"base64key","healthy":false})",
       event_frame{ev::peer_health_changed{"base64key", false}}},
  };
  for (const auto& g : table) {
    CAPTURE(g.text);
    CHECK(encode_frame(g.value) == g.text);
    auto back = decode_frame(g.text);
    REQUIRE_MESSAGE(back.ok(), back.err().message);
    CHECK(*back == g.value);
    // Exact re-encoding of what was decoded (scope_present, nat_enabled...).
    CHECK(encode_frame(*back) == g.text);
  }
}

TEST_CASE("every request variant round-trips as a bare object and inside a frame") {
  std::set<size_t> seen;
  auto all = full_requests();
  for (auto& r : minimal_requests()) all.push_back(r);
  uint64_t id = 0;
  for (const auto& r : all) {
    seen.insert(r.index());
    std::string text = encode_request(r);
    CAPTURE(text);
    auto back = decode_request(text);
    REQUIRE_MESSAGE(back.ok(), back.err().message);
    CHECK(*back == r);
    CHECK(encode_request(*back) == text);
    CHECK(std::string(op_name(r)) == std::string(op_name(*back)));

    std::string ftext = encode_request_frame(++id, r);
    CHECK(ftext == encode_frame(request_frame{id, r}));
    auto fback = decode_frame(ftext);
    REQUIRE_MESSAGE(fback.ok(), fback.err().message);
    CHECK(*fback == frame(request_frame{id, r}));
    auto in = decode_request_frame(ftext);
    REQUIRE(in.ok());
    CHECK(in->id == id);
    REQUIRE(in->body.ok());
    CHECK(in->body.value() == r);
  }
  CHECK(seen.size() == std::variant_size_v<request>);
}

TEST_CASE("every response variant round-trips as a bare object and inside a frame") {
  std::set<size_t> seen;
  uint64_t id = 100;
  for (const auto& r : all_responses()) {
    seen.insert(r.index());
    std::string text = encode_response(r);
    CAPTURE(text);
    auto back = decode_response(text);
    REQUIRE_MESSAGE(back.ok(), back.err().message);
    CHECK(*back == r);
    CHECK(encode_response(*back) == text);
    CHECK(std::string(result_name(r)) == std::string(result_name(*back)));

    std::string ftext = encode_response_frame(++id, r);
    CHECK(ftext == encode_frame(response_frame{id, r}));
    auto fback = decode_frame(ftext);
    REQUIRE_MESSAGE(fback.ok(), fback.err().message);
    CHECK(*fback == frame(response_frame{id, r}));
  }
  CHECK(seen.size() == std::variant_size_v<response>);
}

TEST_CASE("every event variant round-trips as a bare object and merged into its frame") {
  std::set<size_t> seen;
  for (const auto& e : all_events()) {
    seen.insert(e.index());
    std::string text = encode_event(e);
    CAPTURE(text);
    auto back = decode_event(text);
    REQUIRE_MESSAGE(back.ok(), back.err().message);
    CHECK(*back == e);
    std::string ftext = encode_event_frame(e);
    CHECK(ftext == "{\"frame\":\"event\"," + text.substr(1));
    auto fback = decode_frame(ftext);
    REQUIRE(fback.ok());
    CHECK(*fback == frame(event_frame{e}));
  }
  CHECK(seen.size() == std::variant_size_v<event>);
}

TEST_CASE("encoding writes the tag first and the fields in declaration order") {
  struct row {
    request r;
    const char* json;
  };
  const std::vector<row> table = {
      {req::status{}, R"({"op":"status"})"},
      {req::allocate_ip{"web"}, R"({"op":"allocate_ip","service":"web","join_global":false})"},
      {req::setup_service_overlay{"web"}, R"({"op":"setup_service_overlay","service":"web","mode":"auto"})"},
      {req::release_ip{ip("fd00::1")}, R"({"op":"release_ip","ip":"fd00::1"})"},
      {req::remove_peer{"k"}, R"({"op":"remove_peer","pubkey":"k"})"},
      // A service scope built in code is never dropped, even without scope_present.
      {req::remove_peer{"k", peer_scope{"web"}, false},
       R"({"op":"remove_peer","pubkey":"k","scope":{"scope":"service","service":"web"}})"},
      {req::remove_peer{"k", peer_scope{}, true},
       R"({"op":"remove_peer","pubkey":"k","scope":{"scope":"global"}})"},
      {req::attach_container{windows_container{"c", std::nullopt}, "web", false, std::nullopt,
                             std::nullopt, true},
       R"({"op":"attach_container","handle":{"platform":"windows_container","container_id":"c"},"service":"web","join_global":false,"ephemeral":true})"},
      {req::setup_global_overlay{"d", "i", "10.0.0.0/8", std::nullopt, 1, nat_config_spec{}, false,
                                 true},
       R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.0.0.0/8","wg_port":1,"nat":{"enabled":false,"stun_servers":[],"turn_servers":[],"hole_punch_timeout_secs":0,"stun_refresh_interval_secs":0,"max_candidate_pairs":0},"host_adapter_mandatory":false,"nat_enabled":true})"},
      {req::add_peer{{"k", "1.2.3.4:5", "", 0, {{"host", "1.2.3.4:5", 7}}}},
       R"({"op":"add_peer","public_key":"k","endpoint":"1.2.3.4:5","allowed_ips":"","persistent_keepalive_secs":0,"candidates":[{"candidate_type":"host","address":"1.2.3.4:5","priority":7}]})"},
  };
  for (const auto& t : table) CHECK(encode_request(t.r) == t.json);

  CHECK(encode_response(resp::ok{}) == R"({"result":"ok"})");
  CHECK(encode_response(resp::ip{ip("10.0.0.1")}) == R"({"result":"ip","ip":"10.0.0.1"})");
  CHECK(encode_response(resp::nat_status{}) ==
        R"({"result":"nat_status","candidates":[],"peers":[],"last_refresh":0})");
  CHECK(encode_response(resp::guest_config{{ip("10.0.0.2"), 24, "a", "b", 7, {}}}) ==
        R"({"result":"guest_config","overlay_ip":"10.0.0.2","prefix_len":24,"private_key":"a","public_key":"b","listen_port":7,"peers":[]})");
  status_snapshot s;
  s.peers = {{"k", "e", "a", -1}};
  CHECK(encode_response(resp::status{s}) ==
        R"({"result":"status","peer_count":0,"service_count":0,"peers":[{"public_key":"k","endpoint":"e","allowed_ips":"a","last_handshake_unix_secs":-1}]})");
}

TEST_CASE("strings are escaped exactly like serde_json") {
  struct row {
    std::string in;
    std::string out;  // the JSON string literal
  };
  const std::vector<row> table = {
      {"plain", R"("plain")"},
      {"a/b", R"("a/b")"},                       // '/' is not escaped
      {"q\"b\\", R"("q\"b\\")"},
      {"\n\r\t\b\f", R"("\n\r\t\b\f")"},
      {std::string("\0\x01\x1f", 3), R"("\u0000\u0001\u001f")"},  // lowercase hex
      {"\x7f", "\"\x7f\""},                       // DEL is written raw
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
      {"bad\xff", "\"bad\xef\xbf\xbd\""},         // invalid UTF-8 -> U+FFFD, no throw
  };
  for (const auto& t : table) {
    CAPTURE(t.in);
    CHECK(encode_response(resp::err{t.in}) == R"({"result":"err","message":)" + t.out + "}");
  }
}

TEST_CASE("escaped input decodes to the raw characters") {
  auto r = decode_response(R"({"result":"err","message":"\u00e9\/\ud83d\ude00\u0041"})");
  REQUIRE(r.ok());
  CHECK(std::get<resp::err>(*r).message == "\xc3\xa9/\xf0\x9f\x98\x80" "A");
}

TEST_CASE("decoding accepts what serde accepts") {
  struct row {
    const char* json;
    request expect;
  };
  const std::vector<row> table = {
      // the tag need not come first
      {R"({"service":"web","op":"allocate_ip"})", req::allocate_ip{"web"}},
      {R"({"handle":{"pid":7,"platform":"linux_pid"},"service":"s","op":"attach_container"})",
       req::attach_container{linux_pid{7}, "s"}},
      {R"({"scope":{"service":"web","scope":"service"},"pubkey":"k","op":"remove_peer"})",
       req::remove_peer{"k", peer_scope{"web"}}},
      // unknown keys are ignored, at every level
      {R"({"op":"allocate_ip","service":"web","future":[1,{"x":null}]})", req::allocate_ip{"web"}},
      {R"({"op":"detach_container","handle":{"platform":"host_shared","id":"h","extra":1}})",
       req::detach_container{host_shared{"h"}}},
      // null is absent for optionals and [d] fields
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","slice_cidr":null,"wg_port":1,"nat":null,"host_adapter_mandatory":null})",
       req::setup_global_overlay{"d", "i", "c", std::nullopt, 1}},
      {R"({"op":"attach_container","handle":{"platform":"windows_container","container_id":"c","ip":null},"service":"s","dns_server":null,"dns_domain":null,"isolation_network":null,"ephemeral":null,"join_global":null})",
       req::attach_container{windows_container{"c"}, "s"}},
      {R"({"op":"write_scoped_resolver","zone":"z","node_ip":"10.0.0.1","port":null})",
       req::write_scoped_resolver{"z", ip("10.0.0.1")}},
      {R"({"op":"add_peer","public_key":"k","endpoint":"e","allowed_ips":"a","persistent_keepalive_secs":0,"candidates":null,"scope":null})",
       req::add_peer{{"k", "e", "a", 0, {}}}},
      // [d] fields take their defaults when missing
      {R"({"op":"setup_service_overlay","service":"web"})",
       req::setup_service_overlay{"web", overlay_mode::auto_}},
      {R"({"op":"attach_container","handle":{"platform":"guest_managed","id":"g"},"service":"s"})",
       req::attach_container{guest_managed{"g"}, "s", false, std::nullopt, std::nullopt, false}},
      {R"({"op":"add_allowed_ip","pubkey":"k","cidr":"10.0.0.0/8"})",
       req::add_allowed_ip{"k", "10.0.0.0/8", peer_scope{}}},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":65535,"nat":{}})",
       req::setup_global_overlay{"d", "i", "c", std::nullopt, 65535, nat_config_spec{}}},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":{"relay_server":{"listen_port":3478,"external_addr":"x","max_sessions":5}}})",
       req::setup_global_overlay{"d", "i", "c", std::nullopt, 1,
                                 nat_config_spec{false, {}, {}, 0, 0, 0,
                                                 relay_server_spec{3478, "x", 5, std::nullopt}}}},
      // the legacy nat_enabled is kept as decoded
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat_enabled":false})",
       req::setup_global_overlay{"d", "i", "c", std::nullopt, 1, std::nullopt, false, false}},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat_enabled":true})",
       req::setup_global_overlay{"d", "i", "c", std::nullopt, 1, std::nullopt, false, true}},
      // integer edges
      {R"({"op":"set_local_node_id","node_id":18446744073709551615})",
       req::set_local_node_id{UINT64_MAX}},
      {R"({"op":"set_local_node_id","node_id":-0})", req::set_local_node_id{0}},
      {R"({"op":"attach_container","handle":{"platform":"linux_pid","pid":4294967295},"service":"s"})",
       req::attach_container{linux_pid{UINT32_MAX}, "s"}},
      // whitespace around tokens is fine on input
      {" { \"op\" : \"status\" } \n", req::status{}},
      // a duplicate key: the last one wins
      {R"({"op":"allocate_ip","service":"a","service":"b"})", req::allocate_ip{"b"}},
  };
  for (const auto& t : table) {
    CAPTURE(t.json);
    auto r = decode_request(t.json);
    REQUIRE_MESSAGE(r.ok(), r.err().message);
    CHECK(*r == t.expect);
  }
}

TEST_CASE("decoding records whether a scope and the legacy nat_enabled were on the wire") {
  auto absent = decode_request(R"({"op":"remove_peer","pubkey":"k"})");
  auto global = decode_request(R"({"op":"remove_peer","pubkey":"k","scope":{"scope":"global"}})");
  REQUIRE(absent.ok());
  REQUIRE(global.ok());
  CHECK_FALSE(std::get<req::remove_peer>(*absent).scope_present);
  CHECK(std::get<req::remove_peer>(*global).scope_present);
  CHECK(encode_request(*global) == R"({"op":"remove_peer","pubkey":"k","scope":{"scope":"global"}})");
  CHECK(encode_request(*absent) == R"({"op":"remove_peer","pubkey":"k"})");
}

TEST_CASE("decoding errors name the field and the value") {
  struct row {
    const char* json;
    const char* message;
  };
  const std::vector<row> table = {
      {R"({"op":"frobnicate"})", "unknown op 'frobnicate'"},
      {R"({"service":"web"})", "missing field 'op'"},
      {R"({"op":null})", "missing field 'op'"},
      {R"({"op":5})", "invalid field 'op': expected string, got 5"},
      {R"({"op":"allocate_ip"})", "missing field 'service'"},
      {R"({"op":"allocate_ip","service":null})", "missing field 'service'"},
      {R"({"op":"allocate_ip","service":7})", "invalid field 'service': expected string, got 7"},
      {R"({"op":"allocate_ip","service":"w","join_global":"yes"})",
       "invalid field 'join_global': expected bool, got \"yes\""},
      {R"({"op":"allocate_ip","service":"w","join_global":1})",
       "invalid field 'join_global': expected bool, got 1"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":70000})",
       "invalid field 'wg_port': expected u16, got 70000"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":-1})",
       "invalid field 'wg_port': expected u16, got -1"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1.5})",
       "invalid field 'wg_port': expected u16, got 1.5"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":"51820"})",
       "invalid field 'wg_port': expected u16, got \"51820\""},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c"})",
       "missing field 'wg_port'"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":{"hole_punch_timeout_secs":-3}})",
       "invalid field 'nat.hole_punch_timeout_secs': expected u64, got -3"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":{"relay_server":{"listen_port":1}}})",
       "missing field 'nat.relay_server.external_addr'"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":{"stun_servers":["a",3]}})",
       "invalid field 'nat.stun_servers[1]': expected string, got 3"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":true})",
       "invalid field 'nat': expected object, got true"},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat_enabled":0})",
       "invalid field 'nat_enabled': expected bool, got 0"},
      {R"({"op":"set_local_node_id","node_id":18446744073709551616})",
       "invalid field 'node_id': expected u64, got 1.8446744073709552e+19"},
      {R"({"op":"set_local_node_id","node_id":1e3})",
       "invalid field 'node_id': expected u64, got 1000.0"},
      {R"({"op":"release_ip","ip":"10.0.0"})", "invalid field 'ip': invalid IP address '10.0.0'"},
      {R"({"op":"release_ip","ip":"10.0.0.1/32"})",
       "invalid field 'ip': invalid IP address '10.0.0.1/32'"},
      {R"({"op":"release_ip","ip":167772161})",
       "invalid field 'ip': expected IP address string, got 167772161"},
      {R"({"op":"attach_container","service":"s"})", "missing field 'handle'"},
      {R"({"op":"attach_container","service":"s","handle":{"pid":1}})",
       "missing field 'handle.platform'"},
      {R"({"op":"attach_container","service":"s","handle":{"platform":"macos"}})",
       "unknown platform 'macos'"},
      {R"({"op":"attach_container","service":"s","handle":{"platform":"linux_pid","pid":4294967296}})",
       "invalid field 'handle.pid': expected u32, got 4294967296"},
      {R"({"op":"attach_container","service":"s","handle":{"platform":"windows_container","container_id":"c","ip":"x"}})",
       "invalid field 'handle.ip': invalid IP address 'x'"},
      {R"({"op":"attach_container","service":"s","handle":"linux_pid"})",
       "invalid field 'handle': expected object, got \"linux_pid\""},
      {R"({"op":"remove_peer","pubkey":"k","scope":{"scope":"planet"}})", "unknown scope 'planet'"},
      {R"({"op":"remove_peer","pubkey":"k","scope":{"scope":"service"}})",
       "missing field 'scope.service'"},
      {R"({"op":"remove_peer","pubkey":"k","scope":"global"})",
       "invalid field 'scope': expected object, got \"global\""},
      {R"({"op":"setup_service_overlay","service":"s","mode":"turbo"})",
       "invalid field 'mode': unknown overlay mode \"turbo\" (expected auto, shared, dedicated or isolated)"},
      {R"({"op":"add_peer","public_key":"k","endpoint":"e","allowed_ips":"a"})",
       "missing field 'persistent_keepalive_secs'"},
      {R"({"op":"add_peer","public_key":"k","endpoint":"e","allowed_ips":"a","persistent_keepalive_secs":1,"candidates":[{"candidate_type":"host","address":"a","priority":-1}]})",
       "invalid field 'candidates[0].priority': expected u32, got -1"},
      {R"({"op":"add_peer","public_key":"k","endpoint":"e","allowed_ips":"a","persistent_keepalive_secs":1,"candidates":{}})",
       "invalid field 'candidates': expected array, got {}"},
      {R"({"op":"add_peer","public_key":"k","endpoint":"e","allowed_ips":"a","persistent_keepalive_secs":1,"candidates":[1]})",
       "invalid field 'candidates[0]': expected object, got 1"},
      {R"({"op":"prune_orphan_bridges"})", "missing field 'live_bridge_names'"},
      {R"({"op":"allocate_ip","service":{"a":1}})",
       "invalid field 'service': expected string, got {...}"},
  };
  for (const auto& t : table) {
    CAPTURE(t.json);
    auto r = decode_request(t.json);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == errc::invalid_argument);
    CHECK(r.err().message == t.message);
  }
}

TEST_CASE("an error quoting a huge value is cut short") {
  std::string big(10000, 'x');
  auto r = decode_request(R"({"op":")" + big + R"("})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message == "unknown op '" + std::string(64, 'x') + "...'");
}

TEST_CASE("response and event decoding errors name the field") {
  CHECK(decode_response(R"({"result":"nope"})").err().message == "unknown result 'nope'");
  CHECK(decode_response(R"({"result":"status","peer_count":0})").err().message ==
        "missing field 'service_count'");
  CHECK(decode_response(R"({"result":"nat_status","peers":[],"last_refresh":0})").err().message ==
        "missing field 'candidates'");
  CHECK(decode_response(R"({"result":"guest_config","overlay_ip":"1.2.3.4","prefix_len":256,"private_key":"a","public_key":"b","listen_port":1,"peers":[]})")
            .err()
            .message == "invalid field 'prefix_len': expected u8, got 256");
  CHECK(decode_response(R"({"result":"status","peer_count":0,"service_count":0,"peers":[{"public_key":"k","endpoint":"e","allowed_ips":"a","last_handshake_unix_secs":9223372036854775808}]})")
            .err()
            .message ==
        "invalid field 'peers[0].last_handshake_unix_secs': expected i64, got 9223372036854775808");
  CHECK(decode_event(R"({"event":"peer_health_changed","pubkey":"k"})").err().message ==
        "missing field 'healthy'");
  CHECK(decode_event(R"({"event":"gone"})").err().message == "unknown event 'gone'");
}

TEST_CASE("bad JSON is an error, never a throw") {
  const std::vector<std::string> table = {
      "",
      "{",
      "{\"op\":\"status\"",
      "{\"op\":\"status\"} trailing",
      "{\"op\":'status'}",
      "{\"op\":\"status\",}",
      "/* c */ {\"op\":\"status\"}",
      "{\"op\":\"st\xff\"}",          // invalid UTF-8
      "{\"op\":\"\\ud800\"}",          // lone surrogate
      "{\"op\":\"a\nb\"}",             // raw control character in a string
      std::string("{\"op\":\"status\"}\0", 16),
      std::string("{\"op\":\"status\"}\0garbage", 23),
      std::string("{\"op\":\"sta\0tus\"}", 16),
      "nul",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
  };
  for (const auto& t : table) {
    CAPTURE(t);
    auto r = decode_request(t);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == errc::protocol);
    auto f = decode_frame(t);
    REQUIRE_FALSE(f.ok());
    CHECK(f.err().code == errc::protocol);
  }
  CHECK(decode_request("{").err().message.rfind("invalid JSON: parse error at line 1", 0) == 0);
}

TEST_CASE("valid JSON that is not an object is a protocol error for bare objects too") {
  struct row {
    const char* json;
    const char* message;
  };
  const std::vector<row> table = {
      {"[1,2]", "expected a JSON object, got [...]"},
      {"[]", "expected a JSON object, got []"},
      {"\"status\"", "expected a JSON object, got \"status\""},
      {"null", "expected a JSON object, got null"},
      {"42", "expected a JSON object, got 42"},
  };
  for (const auto& t : table) {
    CAPTURE(t.json);
    auto r = decode_request(t.json);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == errc::protocol);
    CHECK(r.err().message == t.message);
    CHECK(decode_response(t.json).err().code == errc::protocol);
    CHECK(decode_event(t.json).err().code == errc::protocol);
  }
}

TEST_CASE("deep nesting: within serde_json's limit it is skipped or quoted, beyond it refused without exhausting the stack") {
  const std::string open(100, '['), close(100, ']');
  auto skipped = decode_request("{\"op\":\"status\",\"x\":" + open + close + "}");
  REQUIRE(skipped.ok());
  CHECK(*skipped == request(req::status{}));
  auto quoted = decode_request("{\"op\":\"allocate_ip\",\"service\":" + open + close + "}");
  REQUIRE_FALSE(quoted.ok());
  CHECK(quoted.err().message == "invalid field 'service': expected string, got [...]");
  auto frame = decode_frame(open + close);
  REQUIRE_FALSE(frame.ok());
  CHECK(frame.err().message == "not a frame: expected a JSON object, got [...]");
  // serde_json stops at 128 levels ("recursion limit exceeded"); so do we.
  const std::string deep_open(200000, '['), deep_close(200000, ']');
  auto deep = decode_request("{\"op\":\"status\",\"x\":" + deep_open + deep_close + "}");
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.err().message == "invalid JSON: nested deeper than 128 levels");
}

TEST_CASE("frames that are not frames are protocol errors; bad bodies are argument errors") {
  struct row {
    const char* json;
    errc code;
    const char* message;
  };
  const std::vector<row> table = {
      {R"({"id":1,"request":{"op":"status"}})", errc::protocol, "not a frame: missing field 'frame'"},
      {R"({"frame":"telegram","id":1})", errc::protocol, "not a frame: unknown frame 'telegram'"},
      {R"({"frame":"request","request":{"op":"status"}})", errc::protocol,
       "not a frame: missing field 'id'"},
      {R"({"frame":"request","id":-1,"request":{"op":"status"}})", errc::protocol,
       "not a frame: invalid field 'id': expected u64, got -1"},
      {R"([])", errc::protocol, "not a frame: expected a JSON object, got []"},
      {R"({"frame":"request","id":1})", errc::invalid_argument, "missing field 'request'"},
      {R"({"frame":"request","id":1,"request":[]})", errc::invalid_argument,
       "invalid field 'request': expected object, got []"},
      {R"({"frame":"request","id":1,"request":{"op":"frobnicate"}})", errc::invalid_argument,
       "unknown op 'frobnicate'"},
      {R"({"frame":"response","id":1,"response":{"result":"ip"}})", errc::invalid_argument,
       "missing field 'ip'"},
      {R"({"frame":"event","event":"nat_endpoint_changed","pubkey":"k"})", errc::invalid_argument,
       "missing field 'endpoint'"},
  };
  for (const auto& t : table) {
    CAPTURE(t.json);
    auto r = decode_frame(t.json);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == t.code);
    CHECK(r.err().message == t.message);
  }
}

TEST_CASE("frame fields may come in any order") {
  auto r = decode_frame(R"({"request":{"service":"w","op":"allocate_ip"},"id":5,"frame":"request"})");
  REQUIRE(r.ok());
  CHECK(*r == frame(request_frame{5, req::allocate_ip{"w"}}));
  auto e = decode_frame(R"({"healthy":true,"pubkey":"k","event":"peer_health_changed","frame":"event"})");
  REQUIRE(e.ok());
  CHECK(*e == frame(event_frame{ev::peer_health_changed{"k", true}}));
}

TEST_CASE("a request frame with a bad body still yields its id so the server can answer err") {
  auto bad = decode_request_frame(R"({"frame":"request","id":77,"request":{"op":"frobnicate"}})");
  REQUIRE(bad.ok());
  CHECK(bad->id == 77);
  REQUIRE_FALSE(bad->body.ok());
  CHECK(bad->body.err().message == "unknown op 'frobnicate'");

  auto missing = decode_request_frame(R"({"frame":"request","id":78})");
  REQUIRE(missing.ok());
  CHECK(missing->id == 78);
  CHECK(error_of(missing->body) == "missing field 'request'");

  auto resp_frame = decode_request_frame(R"({"frame":"response","id":1,"response":{"result":"ok"}})");
  REQUIRE_FALSE(resp_frame.ok());
  CHECK(resp_frame.err().code == errc::protocol);
  CHECK(resp_frame.err().message == "not a request frame: frame 'response'");

  auto garbage = decode_request_frame("garbage");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.err().code == errc::protocol);
}

TEST_CASE("overlay modes have their wire names") {
  for (auto m : {overlay_mode::auto_, overlay_mode::shared, overlay_mode::dedicated,
                 overlay_mode::isolated})
    CHECK(parse_overlay_mode(to_string(m)) == m);
  CHECK(std::string(to_string(overlay_mode::auto_)) == "auto");
  CHECK_FALSE(parse_overlay_mode("Auto").has_value());
  CHECK_FALSE(parse_overlay_mode("").has_value());
}

TEST_CASE("op_name and result_name give the wire tags") {
  CHECK(std::string(op_name(req::add_peer{})) == "add_peer");
  CHECK(std::string(op_name(req::shutdown{})) == "shutdown");
  CHECK(std::string(op_name(req::set_local_node_id{})) == "set_local_node_id");
  CHECK(std::string(result_name(resp::err{})) == "err");
  CHECK(std::string(result_name(resp::service_overlay{})) == "service_overlay");
  for (const auto& r : full_requests()) {
    auto text = encode_request(r);
    CHECK(text.rfind(std::string("{\"op\":\"") + op_name(r) + "\"", 0) == 0);
  }
  for (const auto& r : all_responses()) {
    auto text = encode_response(r);
    CHECK(text.rfind(std::string("{\"result\":\"") + result_name(r) + "\"", 0) == 0);
  }
}

TEST_CASE("a message of too many JSON values or too deep nesting is refused before it is built") {
  std::string many = R"({"op":"prune_orphan_bridges","live_bridge_names":[)";
  for (size_t i = 0; i < max_json_values; ++i) many += "\"\",";
  many += "\"\"]}";
  auto r = decode_request(many);
  REQUIRE(!r);
  CHECK(r.err().code == errc::protocol);
  CHECK(r.err().message.find("more than 262144 values") != std::string::npos);

  std::string deep(max_json_depth + 8, '[');
  deep += std::string(max_json_depth + 8, ']');
  auto d = decode_request(deep);
  REQUIRE(!d);
  CHECK(d.err().message.find("nested deeper than 128") != std::string::npos);

  // Just inside the bounds still decodes.
  std::string fine = R"({"op":"prune_orphan_bridges","live_bridge_names":[)";
  for (size_t i = 0; i < 1000; ++i) fine += "\"zl-x-b\",";
  fine += "\"zl-y-b\"]}";
  CHECK(decode_request(fine).ok());
}
