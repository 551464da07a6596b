#include <doctest/doctest.h>

#include "net/ip.hpp"

using namespace overlayd::net;

TEST_CASE("IP addresses parse and format canonically") {
  struct row { const char* in; const char* out; bool ok; };
  const row rows[] = {
      {"10.200.0.5", "10.200.0.5", true},   {"fd00::1", "fd00::1", true},
      {"FD00:0::1", "fd00::1", true},       {"0.0.0.0", "0.0.0.0", true},
      {"10.200.0", "", false},              {"10.200.0.256", "", false},
      {"", "", false},                      {"1.2.3.4 ", "", false},
      {"fd00:::1", "", false},              {"hello", "", false},
  };
  for (auto& r : rows) {
    CAPTURE(r.in);
    auto a = ip_address::parse(r.in);
    CHECK(a.ok() == r.ok);
    if (a.ok()) CHECK(a->to_string() == r.out);
  }
}

TEST_CASE("CIDR parsing names the problem and masks the network") {
  auto c = cidr::parse("10.200.0.5/16");
  REQUIRE(c.ok());
  CHECK(c->network().to_string() == "10.200.0.0");
  CHECK(c->broadcast().to_string() == "10.200.255.255");
  CHECK(c->contains(*ip_address::parse("10.200.37.18")));
  CHECK_FALSE(c->contains(*ip_address::parse("10.201.0.1")));
  CHECK_FALSE(c->contains(*ip_address::parse("fd00::1")));
  auto bad = cidr::parse("10.0.0/33");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("10.0.0/33") != std::string::npos);
  CHECK_FALSE(cidr::parse("10.0.0.0/33").ok());
  CHECK_FALSE(cidr::parse("10.0.0.0").ok());
  CHECK_FALSE(cidr::parse("10.0.0.0/").ok());
  CHECK_FALSE(cidr::parse("10.0.0.0/1x").ok());
  auto v6 = cidr::parse("fd00:200::/64");
  REQUIRE(v6.ok());
  CHECK(v6->broadcast().to_string() == "fd00:200::ffff:ffff:ffff:ffff");
  CHECK(cidr::parse("10.0.0.0/8")->contains(*cidr::parse("10.1.0.0/16")));
  CHECK_FALSE(cidr::parse("10.1.0.0/16")->contains(*cidr::parse("10.0.0.0/8")));
}

TEST_CASE("endpoints parse ip:port and [v6]:port") {
  auto e = endpoint::parse("1.2.3.4:51820");
  REQUIRE(e.ok());
  CHECK(e->port() == 51820);
  CHECK(e->to_string() == "1.2.3.4:51820");
  auto e6 = endpoint::parse("[fd00::1]:53");
  REQUIRE(e6.ok());
  CHECK(e6->to_string() == "[fd00::1]:53");
  for (const char* bad : {"not-a-socket-addr", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536",
                          "fd00::1:53", "[fd00::1]53", "[fd00::1]:x", ":80"}) {
    CAPTURE(bad);
    CHECK_FALSE(endpoint::parse(bad).ok());
  }
}

TEST_CASE("sockaddr round trip keeps v4 plain and unmaps v4-mapped v6") {
  auto e = *endpoint::parse("10.0.0.1:9");
  sockaddr_storage ss;
  e.to_sockaddr(ss, true);
  CHECK(endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)) == e);
  e.to_sockaddr(ss, false);
  CHECK(endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)) == e);
}

TEST_CASE("plus walks addresses with carry") {
  CHECK(ip_address::parse("10.0.0.255")->plus(1).to_string() == "10.0.1.0");
  CHECK(ip_address::parse("fd00::ff")->plus(1).to_string() == "fd00::100");
}

TEST_CASE("CIDR lists split on commas and report the bad item") {
  auto l = parse_cidr_list("10.200.0.5/32, 10.200.1.0/24");
  REQUIRE(l.ok());
  CHECK(l->size() == 2);
  auto bad = parse_cidr_list("10.200.0.5/32,nope");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("nope") != std::string::npos);
}
