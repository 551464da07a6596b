#include <doctest/doctest.h>

#include <set>
#include <string>

#include "net/ipam.hpp"

using namespace overlayd;
using namespace overlayd::net;

namespace {
ip_address ip(const char* s) { return *ip_address::parse(s); }
cidr net_(const char* s) { return *cidr::parse(s); }
bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
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

// Vectors computed outside this code base, with Python's ipaddress module
// and a four-line FNV-1a-64 (h = 0xcbf29ce484222325; for each byte of
// service + b"\x1f" + node: h ^= byte; h = (h * 0x100000001b3) % 2**64),
// then slot = h % 2**(slice_prefix - cluster_prefix) and
// subnet = network + slot * 2**(bits - slice_prefix):
//   python3 -c 'import ipaddress; ...' (see the table: hash, then subnet).
struct subnet_vector {
  const char* service;
  const char* node;
  const char* cluster;
  uint64_t hash;
  const char* subnet;  // on an empty registry with nothing to avoid
};
constexpr subnet_vector subnet_vectors[] = {
    {"web", "1", "10.220.0.0/16", 0x66acce2e098fe4a1ULL, "10.220.40.64/26"},
    {"web", "2", "10.220.0.0/16", 0x66accb2e098fdf88ULL, "10.220.226.0/26"},
    {"web", "3", "10.220.0.0/16", 0x66accc2e098fe13bULL, "10.220.78.192/26"},
    {"db", "1", "10.220.0.0/16", 0x7c03f8672b27157fULL, "10.220.95.192/26"},
    {"__zlayer_shared_bridge__", "1", "10.220.0.0/16", 0x68ee1606fca26bb6ULL, "10.220.237.128/26"},
    {"web", "0", "10.200.0.0/16", 0x66accd2e098fe2eeULL, "10.200.187.128/26"},
    {"api", "42", "10.0.0.0/8", 0x4db5c411ef3bf032ULL, "10.252.12.128/26"},
    {"s", "7", "10.220.0.0/20", 0x821948195cc4bcb0ULL, "10.220.12.0/26"},
    {"", "", "10.9.0.0/25", 0xaf63d24c8601db8eULL, "10.9.0.0/26"},
    // v6: /120 slots; a /48 has 2^72 of them, more than the hash's range.
    {"web", "1", "fd00:220::/48", 0x66acce2e098fe4a1ULL, "fd00:220:0:66:acce:2e09:8fe4:a100/120"},
    {"db", "2", "fd00:220::/48", 0x7c03f9672b271732ULL, "fd00:220:0:7c:3f9:672b:2717:3200/120"},
    {"web", "1", "fd00:220::/104", 0x66acce2e098fe4a1ULL, "fd00:220::e4:a100/120"},
};

TEST_CASE("service subnets follow the cluster-wide FNV-1a rule (independent vectors)") {
  for (const auto& v : subnet_vectors) {
    CAPTURE(v.service);
    CAPTURE(v.node);
    CAPTURE(v.cluster);
    CHECK(subnet_registry::key_hash(v.service, v.node) == v.hash);
    auto reg = subnet_registry::create(net_(v.cluster));
    REQUIRE(reg.ok());
    auto s = reg->assign(v.service, v.node);
    REQUIRE(s.ok());
    CHECK(s->to_string() == v.subnet);
  }
}

TEST_CASE("subnet registry: same key same subnet; collisions probe linearly; release frees the slot") {
  auto reg = subnet_registry::create(net_("10.9.0.0/24"));  // four /26 slots
  REQUIRE(reg.ok());
  const auto start = reg->start_slot("a", "1");
  auto a = reg->assign("a", "1");
  REQUIRE(a.ok());
  CHECK(*a == reg->slot(start));
  CHECK(*reg->assign("a", "1") == *a);
  // Every other key lands on its own start slot, or the next free one after it.
  std::set<std::string> seen{a->to_string()};
  for (const char* k : {"b", "c", "d"}) {
    auto s = reg->assign(k, "1");
    REQUIRE(s.ok());
    CHECK(seen.insert(s->to_string()).second);
  }
  auto full = reg->assign("e", "1");
  REQUIRE_FALSE(full.ok());
  CHECK(full.err().code == errc::exhausted);
  CHECK(reg->release("a", "1"));
  CHECK_FALSE(reg->release("a", "1"));
  CHECK(*reg->assign("e", "1") == *a);  // the only free slot
}

TEST_CASE("subnet registry skips the node IP, the node slice and routed CIDRs, and says why") {
  auto reg = subnet_registry::create(net_("10.220.0.0/16"));
  REQUIRE(reg.ok());
  // web@1 starts at 10.220.40.64/26 (vector above).
  reg->reserve_ip(ip("10.220.40.65"));
  std::vector<subnet_skip> skips;
  auto s = reg->assign("web", "1", {net_("10.220.40.128/25"), net_("10.220.41.0/24")}, &skips);
  REQUIRE(s.ok());
  CHECK(s->to_string() == "10.220.42.0/26");
  REQUIRE(skips.size() == 3);
  CHECK(skips[0].slot.to_string() == "10.220.40.64/26");
  CHECK(contains(skips[0].reason, "reserved"));
  CHECK(skips[1].slot.to_string() == "10.220.40.128/26");
  CHECK(skips[1].count == 2);  // the /25 in one jump
  CHECK(contains(skips[1].reason, "10.220.40.128/25"));
  CHECK(skips[2].count == 4);
  // A CIDR that covers the whole cluster leaves nothing.
  auto none = reg->assign("api", "1", {net_("10.0.0.0/8")});
  REQUIRE_FALSE(none.ok());
  CHECK(none.err().code == errc::exhausted);
}

TEST_CASE("v6: a node slice of 2^56 slots is stepped over in one jump") {
  auto reg = subnet_registry::create(net_("fd00:220::/48"));
  REQUIRE(reg.ok());
  std::vector<subnet_skip> skips;
  // web@1's start slot lies inside fd00:220:0:66::/64.
  auto s = reg->assign("web", "1", {net_("fd00:220:0:66::/64")}, &skips);
  REQUIRE(s.ok());
  CHECK(s->to_string() == "fd00:220:0:67::/120");
  REQUIRE(skips.size() == 1);
  auto small = subnet_registry::create(net_("10.9.0.0/27"));
  CHECK_FALSE(small.ok());
}

TEST_CASE("subnet registry restores persisted assignments and refuses foreign or taken slots") {
  auto reg = subnet_registry::create(net_("10.220.0.0/16"));
  REQUIRE(reg.ok());
  CHECK(reg->restore("web", "1", net_("10.220.7.0/26")).ok());
  CHECK(reg->restore("web", "1", net_("10.220.7.0/26")).ok());  // idempotent
  CHECK(*reg->assign("web", "1") == net_("10.220.7.0/26"));
  CHECK_FALSE(reg->restore("api", "1", net_("10.220.7.0/26")).ok());   // taken
  CHECK_FALSE(reg->restore("api", "1", net_("10.221.0.0/26")).ok());   // outside
  CHECK_FALSE(reg->restore("api", "1", net_("10.220.8.0/25")).ok());   // not a slot
  CHECK_FALSE(reg->restore("web", "1", net_("10.220.9.0/26")).ok());   // key holds another
}

TEST_CASE("node pools: the own slice and peers' routes are avoided; conflicting routes are named") {
  node_pools p(net_("10.220.1.0/24"));
  REQUIRE(p.set_cluster(net_("10.220.0.0/16"), ip("10.220.1.1")).ok());
  CHECK(p.slice_is_own());
  p.set_routed("global", {net_("10.220.40.0/24")});
  std::vector<subnet_skip> skips;
  auto s = p.assign_subnet("web", "1", &skips);
  REQUIRE(s.ok());
  CHECK(s->to_string() == "10.220.41.0/26");
  CHECK(p.route_conflict(net_("10.220.41.0/26"), "1").has_value());
  CHECK(p.route_conflict(net_("10.220.0.0/16"), "1").has_value());
  CHECK(contains(*p.route_conflict(net_("10.220.1.0/24"), "1"), "own slice"));
  CHECK_FALSE(p.route_conflict(net_("10.220.41.5/32"), "1").has_value());  // inside: fine
  CHECK_FALSE(p.route_conflict(net_("10.220.41.0/26"), "2").has_value());  // another node's key
  CHECK_FALSE(p.route_conflict(net_("10.220.2.0/24"), "1").has_value());
  // Without a slice of its own (the default slice is the whole default
  // cluster), the slice is not avoided.
  node_pools d(net_("10.200.0.0/16"));
  REQUIRE(d.set_cluster(net_("10.200.0.0/16"), ip("10.200.0.1")).ok());
  CHECK_FALSE(d.slice_is_own());
  CHECK(d.assign_subnet("web", "0")->to_string() == "10.200.187.128/26");
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
  CHECK(sub->to_string() == "10.200.40.64/26");  // FNV-1a of web@1 (see the vectors)
  pools.open_pool("zl-p-1-web-b", *sub);
  CHECK(*pools.allocate("web") == ip("10.200.1.2"));  // not bound yet: the slice
  pools.bind("web", "zl-p-1-web-b");
  CHECK(*pools.allocate("web") == ip("10.200.40.66"));  // .65 is the bridge gateway
  CHECK(*pools.allocate("api") == ip("10.200.1.3"));
  pools.release(ip("10.200.40.66"));
  CHECK(*pools.allocate("web") == ip("10.200.40.66"));
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

TEST_CASE("reserve holds an address a restarted daemon finds in use; the gap stays free") {
  ip_allocator a(net_("10.200.0.0/26"));
  {
    auto r0 = a.reserve(ip("10.200.0.5"));
    if (!r0) MESSAGE(r0.err().message);
    REQUIRE(r0);
  }
  CHECK(a.in_use() == 1);
  // Twice is a conflict: it is handed out.
  CHECK(a.reserve(ip("10.200.0.5")).err().code == errc::already_exists);
  // .2 .3 .4 are free and come out before the counter passes .5.
  std::set<std::string> got;
  for (int i = 0; i < 4; ++i) got.insert(a.allocate()->to_string());
  CHECK(got == std::set<std::string>{"10.200.0.2", "10.200.0.3", "10.200.0.4", "10.200.0.6"});
  // Reserving a released address takes it out of the free list.
  a.release(ip("10.200.0.3"));
  REQUIRE(a.reserve(ip("10.200.0.3")));
  CHECK(*a.allocate() == ip("10.200.0.7"));
  // Not host addresses of the pool.
  CHECK(a.reserve(ip("10.200.0.1")).err().code == errc::invalid_argument);   // node IP
  CHECK(a.reserve(ip("10.200.0.63")).err().code == errc::invalid_argument);  // broadcast
  CHECK(a.reserve(ip("10.200.1.9")).err().code == errc::invalid_argument);   // outside
}

TEST_CASE("reserve refuses a v6 address far past the counter instead of filling a huge gap") {
  ip_allocator a(net_("fd00::/64"));
  CHECK(a.reserve(ip("fd00::ffff:ffff")).err().code == errc::invalid_argument);
  REQUIRE(a.reserve(ip("fd00::10")));
  CHECK(a.in_use() == 1);
}

TEST_CASE("node_pools::reserve goes to the bridge pool holding the address, else the slice") {
  node_pools p(net_("10.200.1.0/24"));
  p.open_pool("zl-x-b", net_("10.200.64.0/26"));
  p.bind("web", "zl-x-b");
  REQUIRE(p.reserve(ip("10.200.64.2")));
  REQUIRE(p.reserve(ip("10.200.1.7")));
  CHECK(*p.allocate("web") == ip("10.200.64.3"));
  CHECK(p.reserve(ip("10.200.1.7")).err().code == errc::already_exists);
}

TEST_CASE("reserve in a pool that does not start at a zero offset") {
  ip_allocator a(net_("10.200.40.64/26"));
  auto r = a.reserve(ip("10.200.40.66"));
  if (!r) MESSAGE(r.err().message);
  CHECK(r);
  CHECK(a.reserve(ip("10.200.40.70")));
  CHECK(*a.allocate() == ip("10.200.40.69"));
}
