#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/nat_wire.hpp"

using namespace overlayd;
using namespace overlayd::actors;
namespace nn = overlayd::net::nat;

namespace {
net::endpoint ep(const char* s) { return *net::endpoint::parse(s); }
}  // namespace

TEST_CASE("nat config: absent spec follows the legacy flag, present spec fills defaults") {
  CHECK(nat_config_from_spec(std::nullopt, false).enabled == false);
  auto d = nat_config_from_spec(std::nullopt, std::nullopt);
  CHECK(d.enabled);
  CHECK(d.stun_servers.empty());  // nothing leaves the host unless configured

  ipc::nat_config_spec s;
  s.enabled = true;
  s.stun_servers = {"192.0.2.1:3478"};
  s.hole_punch_timeout_secs = 4;
  s.relay_server = ipc::relay_server_spec{7000, "192.0.2.9:7000", 0, std::string("cred")};
  auto c = nat_config_from_spec(s, false);  // the spec wins over the legacy flag
  CHECK(c.enabled);
  CHECK(c.stun_servers == std::vector<std::string>{"192.0.2.1:3478"});
  CHECK(c.hole_punch_timeout == std::chrono::seconds(4));
  CHECK(c.stun_refresh_interval == nn::default_stun_refresh_interval);
  CHECK(c.max_candidate_pairs == nn::default_max_candidate_pairs);
  REQUIRE(c.relay_server);
  CHECK(c.relay_server->auth_credential == "cred");
  CHECK(c.relay_server->max_sessions == nn::default_relay_max_sessions);
}

TEST_CASE("nat candidates from the wire: parsed, bad ones named, bounded") {
  auto ok = candidates_from_wire({{"server-reflexive", "203.0.113.5:51820", 50}, {"host", "10.0.0.2:51820", 100}});
  REQUIRE(ok);
  REQUIRE(ok->size() == 2);
  CHECK((*ok)[0].type == nn::candidate_type::server_reflexive);
  CHECK((*ok)[0].address == ep("203.0.113.5:51820"));
  auto bad = candidates_from_wire({{"host", "not-an-address", 100}});
  REQUIRE(!bad);
  CHECK(bad.err().message.find("not-an-address") != std::string::npos);
  std::vector<ipc::nat_candidate_wire> many(nn::max_peer_candidates + 1, {"host", "10.0.0.2:1", 100});
  CHECK(!candidates_from_wire(many));
}

TEST_CASE("handshake info: wall-clock age becomes steady age") {
  auto now = nn::nat_clock::now();
  auto h = handshake_info_of(now.wall - std::chrono::seconds(80), ep("198.51.100.1:9"), now);
  REQUIRE(h.last_handshake);
  CHECK(now.mono - *h.last_handshake >= std::chrono::seconds(79));
  CHECK(now.mono - *h.last_handshake <= std::chrono::seconds(81));
  CHECK(h.current == ep("198.51.100.1:9"));
  CHECK(!handshake_info_of(std::nullopt, std::nullopt, now).last_handshake);
  auto future = handshake_info_of(now.wall + std::chrono::seconds(5), std::nullopt, now);
  CHECK(*future.last_handshake == now.mono);
}

TEST_CASE("nat status to wire: peers with an outcome, device endpoint first") {
  nn::nat_status_view v;
  v.candidates = {nn::make_candidate(nn::candidate_type::host, ep("10.0.0.2:51820"))};
  v.last_refresh = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  nn::peer_connect_status a;
  a.peer = "A";
  a.type = nn::connection_type::hole_punched;
  a.remote_endpoint = ep("203.0.113.5:51820");
  nn::peer_connect_status b;
  b.peer = "B";  // still on its first attempt: not reported
  nn::peer_connect_status c;
  c.peer = "C";
  c.type = nn::connection_type::unreachable;
  v.peers = {a, b, c};
  auto w = nat_status_to_wire(v, [](const std::string& p) -> std::optional<net::endpoint> {
    if (p == "A") return ep("203.0.113.5:40000");
    return std::nullopt;
  });
  REQUIRE(w.candidates.size() == 1);
  CHECK(w.candidates[0].candidate_type == "host");
  CHECK(w.candidates[0].address == "10.0.0.2:51820");
  CHECK(w.candidates[0].priority == nn::priority_host);
  CHECK(w.last_refresh == 1700000000);
  REQUIRE(w.peers.size() == 2);
  CHECK(w.peers[0].node_id == "A");
  CHECK(w.peers[0].connection_type == "hole-punched");
  CHECK(w.peers[0].remote_endpoint == "203.0.113.5:40000");
  CHECK(w.peers[1].connection_type == "unreachable");
  CHECK(!w.peers[1].remote_endpoint);
  CHECK(nat_status_to_wire({}, nullptr) == ipc::nat_status_wire{});
}

TEST_CASE("nat attempts json: every peer, its log") {
  nn::nat_status_view v;
  nn::peer_connect_status a;
  a.peer = "A";
  nn::connect_attempt at;
  at.started = nn::steady::now() - std::chrono::seconds(3);
  at.pairs_tried = {"host 10.0.0.2:1", "server-reflexive 203.0.113.5:1"};
  at.outcome = nn::connection_type::unreachable;
  at.reason = "no pair answered";
  a.log = {at};
  v.peers = {a};
  auto j = nlohmann::json::parse(nat_attempts_json(v, nn::steady::now()));
  REQUIRE(j.size() == 1);
  CHECK(j[0]["peer"] == "A");
  CHECK(j[0]["connection_type"].is_null());
  CHECK(j[0]["attempts"][0]["outcome"] == "unreachable");
  CHECK(j[0]["attempts"][0]["pairs_tried"].size() == 2);
  CHECK(j[0]["attempts"][0]["age_secs"] >= 2);
  CHECK(nat_attempts_json({}, nn::steady::now()) == "[]");
}

TEST_CASE("the NAT mapping document names the behaviour and the STUN problems") {
  net::nat::nat_status_view v;
  CHECK(nat_mapping_json(v) == R"({"mapping":"unknown","problems":[]})");
  v.mapping = net::nat::nat_mapping::endpoint_dependent;
  v.problems = {"STUN 192.0.2.1:3478: timeout"};
  CHECK(nat_mapping_json(v) ==
        R"({"mapping":"endpoint-dependent","problems":["STUN 192.0.2.1:3478: timeout"]})");
}
