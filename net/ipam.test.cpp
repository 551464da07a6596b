#include <doctest/doctest.h>

#include <set>

#include "net/ipam.hpp"

using namespace overlayd;
using namespace overlayd::net;

namespace {
ip_address ip(const char* s) { return *ip_address::parse(s); }
cidr net_(const char* s) { return *cidr::parse(s); }
}  // namespace

TEST_CASE("node IP is the first usable host and is never handed out") {
  // Ported from the seed's node_ip_is_first_usable_and_reserved.
  ip_allocator alloc(net_("10.200.0.0/26"));
  CHECK(alloc.node_ip() == ip("10.200.0.1"));
  std::vector<ip_address> out;
  for (int i = 0; i < 10; ++i) {
    auto a = alloc.allocate();
    REQUIRE(a.ok());
    CHECK(*a != ip("10.200.0.1"));
    out.push_back(*a);
  }
  CHECK(alloc.node_ip() == ip("10.200.0.1"));
  CHECK(out[0] == ip("10.200.0.2"));
  alloc.release(ip("10.200.0.1"));
  CHECK(*alloc.allocate() != ip("10.200.0.1"));
}

TEST_CASE("IPv6 node IP is the first usable host") {
  ip_allocator alloc(net_("fd00:200::/64"));
  CHECK(alloc.node_ip() == ip("fd00:200::1"));
  for (int i = 0; i < 5; ++i) CHECK(*alloc.allocate() != ip("fd00:200::1"));
}

TEST_CASE("released addresses are reused before the counter advances") {
  // Ported from the seed's allocate_and_release_ip_round_trip.
  ip_allocator alloc(net_("10.200.0.0/16"));
  auto a = *alloc.allocate();
  auto b = *alloc.allocate();
  CHECK(a != b);
  alloc.release(a);
  alloc.release(a);  // idempotent
  CHECK(*alloc.allocate() == a);
  CHECK(*alloc.allocate() == ip("10.200.0.4"));
}

TEST_CASE("a v4 slice is exhausted before its broadcast address") {
  ip_allocator alloc(net_("10.200.0.0/29"));  // .1 node, .2-.6 usable, .7 broadcast
  for (int i = 2; i <= 6; ++i) CHECK(*alloc.allocate() == ip(("10.200.0." + std::to_string(i)).c_str()));
  auto e = alloc.allocate();
  REQUIRE_FALSE(e.ok());
  CHECK(e.err().code == errc::exhausted);
  CHECK(e.err().message.find("10.200.0.0/29") != std::string::npos);
  alloc.release(ip("10.200.0.3"));
  CHECK(*alloc.allocate() == ip("10.200.0.3"));
}

TEST_CASE("a v6 /126 is exhausted at the end of the range") {
  ip_allocator alloc(net_("fd00::/126"));
  CHECK(*alloc.allocate() == ip("fd00::2"));
  CHECK(*alloc.allocate() == ip("fd00::3"));
  CHECK_FALSE(alloc.allocate().ok());
}

TEST_CASE("subnet registry hands out /26 slices, idempotent per key") {
  auto reg = subnet_registry::create(net_("10.200.0.0/16"));
  REQUIRE(reg.ok());
  reg->reserve_ip(ip("10.200.0.1"));
  auto a = reg->assign("web", "1");
  REQUIRE(a.ok());
  CHECK(a->to_string() == "10.200.0.64/26");  // 10.200.0.0/26 holds the node IP
  CHECK(*reg->assign("web", "1") == *a);
  auto b = reg->assign("api", "1");
  CHECK(b->to_string() == "10.200.0.128/26");
  CHECK(reg->assign("web", "2")->to_string() == "10.200.0.192/26");
  CHECK(reg->release("web", "1"));
  CHECK_FALSE(reg->release("web", "1"));
  CHECK(reg->assign("db", "1")->to_string() == "10.200.0.64/26");  // lowest free reused
}

TEST_CASE("subnet registry uses /120 for v6 and reports exhaustion") {
  auto reg6 = subnet_registry::create(net_("fd00:200::/64"));
  REQUIRE(reg6.ok());
  CHECK(reg6->assign("web", "1")->to_string() == "fd00:200::/120");
  CHECK(reg6->assign("api", "1")->to_string() == "fd00:200::100/120");

  auto small = subnet_registry::create(net_("10.9.0.0/25"));  // two /26 slices
  REQUIRE(small.ok());
  small->reserve_ip(ip("10.9.0.1"));
  CHECK(small->assign("a", "n")->to_string() == "10.9.0.64/26");
  auto e = small->assign("b", "n");
  REQUIRE_FALSE(e.ok());
  CHECK(e.err().code == errc::exhausted);
  CHECK_FALSE(subnet_registry::create(net_("10.9.0.0/27")).ok());
}

TEST_CASE("dedicated port band takes the lowest free port in base+1..=base+256") {
  port_band band(51420, {51421});
  CHECK(*band.allocate() == 51422);
  CHECK(*band.allocate() == 51423);
  band.release(51422);
  CHECK(*band.allocate() == 51422);
  band.reserve(51424);
  CHECK(*band.allocate() == 51425);
  port_band full(100);
  for (int i = 0; i < 256; ++i) REQUIRE(full.allocate().ok());
  auto e = full.allocate();
  REQUIRE_FALSE(e.ok());
  CHECK(e.err().message.find("dedicated-overlay port band exhausted") != std::string::npos);
  port_band top(65500);
  for (int i = 0; i < 35; ++i) REQUIRE(top.allocate().ok());
  CHECK_FALSE(top.allocate().ok());
}

TEST_CASE("node pools draw from the service's bridge pool, else from the node slice") {
  node_pools pools(net_("10.200.1.0/28"));
  CHECK_FALSE(pools.assign_subnet("web", "1").ok());  // no cluster yet
  REQUIRE(pools.set_cluster(net_("10.200.0.0/16"), ip("10.200.1.1")).ok());
  auto sub = pools.assign_subnet("web", "1");
  REQUIRE(sub.ok());
  CHECK(sub->to_string() == "10.200.0.0/26");  // the node IP lives in 10.200.1.0/26
  pools.open_pool("zl-p-1-web-b", *sub);
  CHECK(*pools.allocate("web") == ip("10.200.1.2"));  // not bound yet: the slice
  pools.bind("web", "zl-p-1-web-b");
  CHECK(*pools.allocate("web") == ip("10.200.0.2"));  // .1 is the bridge gateway
  CHECK(*pools.allocate("api") == ip("10.200.1.3"));
  pools.release(ip("10.200.0.2"));
  CHECK(*pools.allocate("web") == ip("10.200.0.2"));
  pools.release(ip("10.200.1.3"));
  CHECK(*pools.allocate_from_slice() == ip("10.200.1.3"));
  pools.close_pool("zl-p-1-web-b");
  CHECK_FALSE(pools.pool_of("web").has_value());
  CHECK(*pools.allocate("web") == ip("10.200.1.4"));
}

TEST_CASE("an exhausted bridge pool names the bridge and its subnet") {
  node_pools pools(net_("10.200.1.0/28"));
  pools.open_pool("zl-x-sh", net_("10.9.0.0/30"));  // .1 gateway, .2 usable, .3 broadcast
  pools.bind("a", "zl-x-sh");
  CHECK(*pools.allocate("a") == ip("10.9.0.2"));
  auto e = pools.allocate("a");
  REQUIRE_FALSE(e.ok());
  CHECK(e.err().message == "shared bridge zl-x-sh subnet 10.9.0.0/30 exhausted");
}

TEST_CASE("node pools own the dedicated port band: marker ports reserved, released ports reused") {
  node_pools p(*cidr::parse("10.200.0.0/28"));
  p.reserve_port(51420, 51421);  // recorded in the marker by a previous run
  CHECK(*p.allocate_port(51420) == 51422);
  p.release_port(51421);
  CHECK(*p.allocate_port(51420) == 51421);
  for (int i = 0; i < 254; ++i) REQUIRE(p.allocate_port(51420));
  auto full = p.allocate_port(51420);
  REQUIRE_FALSE(full);
  CHECK(full.err().message.find("dedicated-overlay port band exhausted") != std::string::npos);
}

TEST_CASE("range_for names the pool allocate(service) draws from: its bridge pool, else the node slice") {
  net::node_pools p(*net::cidr::parse("10.200.0.0/28"));
  CHECK(p.range_for("web") == *net::cidr::parse("10.200.0.0/28"));
  p.open_pool("zl-x-b", *net::cidr::parse("10.200.0.64/26"));
  p.bind("web", "zl-x-b");
  CHECK(p.range_for("web") == *net::cidr::parse("10.200.0.64/26"));
  CHECK(p.range_for("api") == *net::cidr::parse("10.200.0.0/28"));
  p.unbind("web");
  CHECK(p.range_for("web") == *net::cidr::parse("10.200.0.0/28"));
}
