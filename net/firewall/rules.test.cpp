#include <doctest/doctest.h>

#include "net/firewall/iptables.hpp"
#include "net/firewall/rules.hpp"

using namespace overlayd;
using namespace overlayd::firewall;

namespace {
net::cidr C(const char* s) { return net::cidr::parse(s).value(); }
net::ip_address A(const char* s) { return net::ip_address::parse(s).value(); }
bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}
}  // namespace

TEST_CASE("table names are identifiers, so they can never inject nft syntax") {
  struct row {
    const char* name;
    bool ok;
  } rows[] = {{"overlayd", true}, {"ovl_test-1", true}, {"", false}, {"1abc", false},
              {"a b", false},     {"a;flush", false},  {"x{", false},
              {"abcdefghijklmnopqrstuvwxyzabcdefg", false}};
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(check_table_name(r.name).ok() == r.ok);
  }
}

TEST_CASE("network ids are the plain name when safe, else a stable hash") {
  CHECK(network_id("frontend") == "n_frontend");
  CHECK(network_id("my net") == network_id("my net"));
  CHECK(network_id("my net") != network_id("my-net"));
  CHECK(network_id("a;flush ruleset").rfind('h', 0) == 0);
  CHECK(network_id("a;flush ruleset").size() == 17);
  CHECK(network_id(std::string(41, 'a')).rfind('h', 0) == 0);
}

TEST_CASE("subnet rules accept the normalized cluster in input and both forward directions") {
  auto t = render_subnet_rules("ovl", {C("10.200.3.4/16"), C("fd00:200::1/48")});
  CHECK(has(t, "flush chain inet ovl subnet_in\n"));
  CHECK(has(t, "add rule inet ovl subnet_in ip saddr 10.200.0.0/16 accept"));
  CHECK(has(t, "add rule inet ovl subnet_fwd ip daddr 10.200.0.0/16 accept"));
  CHECK(has(t, "add rule inet ovl subnet_fwd ip6 saddr fd00:200::/48 accept"));
}

TEST_CASE("masquerade covers overlay source to non-overlay destination only") {
  auto t = render_masquerade("ovl", {C("10.200.0.0/16")});
  CHECK(has(t, "ip saddr 10.200.0.0/16 ip daddr != 10.200.0.0/16 masquerade"));
}

TEST_CASE("a network renders its set and two chains; a member is three element adds") {
  auto net = render_network("ovl", "n_a", net::family::v4, A("10.200.0.1"), C("10.200.0.0/16"));
  CHECK(has(net, "add set inet ovl m4_n_a { type ipv4_addr; }"));
  CHECK(has(net, "add rule inet ovl s4_n_a ip daddr @m4_n_a accept"));
  CHECK(has(net, "add rule inet ovl s4_n_a ip daddr 10.200.0.1 accept"));
  CHECK(has(net, "add rule inet ovl s4_n_a ip daddr 10.200.0.0/16 drop"));
  CHECK(has(net, "add rule inet ovl d4_n_a ip saddr 10.200.0.0/16 drop"));
  CHECK(has(net, "add rule bridge ovl s4_n_a ip daddr @m4_n_a accept"));
  auto add = render_member_add("ovl", "n_a", A("10.200.1.5"));
  CHECK(add ==
        "add element inet ovl m4_n_a { 10.200.1.5 }\n"
        "add element inet ovl iso_src4 { 10.200.1.5 : jump s4_n_a }\n"
        "add element inet ovl iso_dst4 { 10.200.1.5 : jump d4_n_a }\n"
        "add element bridge ovl m4_n_a { 10.200.1.5 }\n"
        "add element bridge ovl iso_src4 { 10.200.1.5 : jump s4_n_a }\n"
        "add element bridge ovl iso_dst4 { 10.200.1.5 : jump d4_n_a }\n");
  auto rm = render_member_remove("ovl", "n_a", A("fd00::5"));
  REQUIRE(rm.size() == 6);
  CHECK(rm[0] == "delete element inet ovl iso_src6 { fd00::5 }\n");
  CHECK(rm[5] == "delete element bridge ovl m6_n_a { fd00::5 }\n");
}

TEST_CASE("isolation arguments must share one family") {
  CHECK(check_isolation_args(A("10.0.0.2"), A("10.0.0.1"), C("10.0.0.0/16")).ok());
  CHECK_FALSE(check_isolation_args(A("fd00::2"), A("10.0.0.1"), C("10.0.0.0/16")).ok());
  CHECK_FALSE(check_isolation_args(A("10.0.0.2"), A("10.0.0.1"), C("fd00::/64")).ok());
}

TEST_CASE("the skeleton hooks input, forward and postrouting with policy accept") {
  auto t = render_skeleton("ovl");
  CHECK(has(t, "table inet ovl {"));
  CHECK(has(t, "type filter hook forward priority filter; policy accept;"));
  CHECK(has(t, "type nat hook postrouting priority srcnat; policy accept;"));
  CHECK(has(t, "ip saddr vmap @iso_src4"));
  CHECK(t.find("vmap @iso_dst6") < t.find("jump subnet_fwd"));
  CHECK(has(t, "table bridge ovl {"));
}

TEST_CASE("iptables accepts are tagged, waited on and cover input and both forward directions") {
  auto rules = accept_rules_for(C("10.200.9.9/16"));
  REQUIRE(rules.size() == 3);
  auto argv = iptables_argv("iptables-nft", "-C", rules[2], "overlayd:ovl");
  CHECK(argv == std::vector<std::string>{"iptables-nft", "-w", "5", "-C", "FORWARD", "-d",
                                         "10.200.0.0/16", "-m", "comment", "--comment",
                                         "overlayd:ovl", "-j", "ACCEPT"});
}
