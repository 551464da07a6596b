#include "net/nat/candidate.hpp"

#include <doctest/doctest.h>

#include "net/nat/nat_config.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;

TEST_CASE("candidate wire conversions round-trip and reject bad input") {
  candidate_wire w{"server-reflexive", "203.0.113.5:51820", 50};
  auto c = candidate_from_wire(w);
  REQUIRE(c.ok());
  CHECK(c->type == candidate_type::server_reflexive);
  CHECK(c->priority == 50);
  CHECK(candidate_to_wire(*c) == w);
  CHECK(candidate_to_wire(make_candidate(candidate_type::relay, endpoint::parse("[fd00::1]:9").value())) ==
        candidate_wire{"relay", "[fd00::1]:9", 10});
  const candidate_wire bad[] = {
      {"host", "not-an-addr", 1}, {"bogus", "1.2.3.4:5", 1}, {"host", "1.2.3.4:0", 1}, {"host", "0.0.0.0:5", 1}};
  for (const auto& b : bad) {
    CAPTURE(b.address);
    CHECK_FALSE(candidate_from_wire(b).ok());
  }
}

TEST_CASE("host candidates skip loopback, link-local, down and virtual links") {
  auto ip = [](const char* s) { return ip_address::parse(s).value(); };
  std::vector<interface_address> in = {
      {"lo", ip("127.0.0.1"), true, true},      {"eth0", ip("192.168.1.10"), true, false},
      {"eth0", ip("fe80::1"), true, false},     {"eth0", ip("2001:db8::10"), true, false},
      {"eth1", ip("169.254.3.3"), true, false}, {"eth2", ip("10.0.0.9"), false, false},
      {"zl-prod-g", ip("10.200.0.1"), true, false}, {"veth12", ip("10.1.1.1"), true, false},
      {"docker0", ip("172.17.0.1"), true, false},   {"eth0", ip("192.168.1.10"), true, false},
  };
  auto hc = host_candidates(in, 51820);
  REQUIRE(hc.size() == 2);
  CHECK(hc[0].address.to_string() == "192.168.1.10:51820");
  CHECK(hc[1].address.to_string() == "[2001:db8::10]:51820");
  CHECK(hc[0].priority == 100);
}

TEST_CASE("nat config fills zero fields with the seed defaults and keeps STUN empty") {
  auto d = resolve_nat_config({});
  CHECK(d.stun_servers.empty());
  CHECK(d.hole_punch_timeout == std::chrono::seconds(15));
  CHECK(d.stun_refresh_interval == std::chrono::seconds(60));
  CHECK(d.max_candidate_pairs == 10);
  CHECK_FALSE(d.relay_server);
  nat_config_input in;
  in.enabled = true;
  in.stun_servers = {"192.0.2.1:3478"};
  in.hole_punch_timeout_secs = 9;
  in.max_candidate_pairs = 3;
  in.relay_server = relay_server_config{3478, "192.0.2.9:3478", 0, "secret"};
  auto c = resolve_nat_config(in);
  CHECK(c.enabled);
  CHECK(c.hole_punch_timeout == std::chrono::seconds(9));
  CHECK(c.stun_refresh_interval == std::chrono::seconds(60));
  CHECK(c.max_candidate_pairs == 3);
  CHECK(c.relay_server->max_sessions == 100);
  CHECK(c.relay_server->auth_credential == "secret");
  CHECK(parse_server_list(c.stun_servers).ok());
  CHECK_FALSE(parse_server_list({"stun.example.org"}).ok());
}
