#include <doctest/doctest.h>

#include "net/wg/device_state.hpp"

using namespace overlayd;
using namespace overlayd::wg;

namespace {

crypto::public_key key_n(uint8_t n) {
  crypto::public_key k;
  k.bytes.fill(n);
  return k;
}

net::cidr C(const char* s) { return *net::cidr::parse(s); }
net::ip_address IP(const char* s) { return *net::ip_address::parse(s); }

peer_update peer_with(uint8_t n, std::initializer_list<const char*> ips) {
  peer_update p;
  p.key = key_n(n);
  for (auto* s : ips) p.allowed_ips.push_back(C(s));
  return p;
}

struct fixture {
  fake_clock clk;
  index_table indices;
  snapshot_builder b{indices, clk};
  std::shared_ptr<const snapshot> cur = std::make_shared<const snapshot>();

  status apply(const device_update& u) {
    apply_effects fx;
    auto next = b.apply(*cur, u, fx);
    if (!next) return next.err();
    cur = *next;
    return {};
  }
  const device_peer* route(const char* ip) const {
    auto* p = cur->routes.lookup(IP(ip));
    return p ? *p : nullptr;
  }
};

}  // namespace

TEST_CASE("peers and their allowed IPs become routes of the next snapshot") {
  fixture f;
  device_update u;
  u.peers = {peer_with(1, {"10.0.0.0/24", "fd00::/64"}), peer_with(2, {"10.0.0.7/32"})};
  REQUIRE(f.apply(u).ok());
  REQUIRE(f.cur->peers.size() == 2);
  CHECK(f.route("10.0.0.5") == f.cur->find(key_n(1)));
  CHECK(f.route("10.0.0.7") == f.cur->find(key_n(2)));  // longest prefix wins
  CHECK(f.route("fd00::9") == f.cur->find(key_n(1)));
  CHECK(f.route("10.0.1.1") == nullptr);
}

TEST_CASE("an update in place keeps the peer object and only changes what it names") {
  fixture f;
  device_update u;
  u.peers = {peer_with(1, {"10.0.0.1/32"})};
  u.peers[0].endpoint = *net::endpoint::parse("192.0.2.1:51820");
  REQUIRE(f.apply(u).ok());
  const device_peer* before = f.cur->find(key_n(1));
  auto old = f.cur;

  device_update v;
  v.peers = {peer_with(1, {"10.0.0.2/32"})};
  v.peers[0].persistent_keepalive = 25;
  REQUIRE(f.apply(v).ok());
  CHECK(f.cur->find(key_n(1)) == before);  // same peer: sessions survive
  CHECK(before->persistent_keepalive == 25);
  CHECK(before->endpoint()->to_string() == "192.0.2.1:51820");
  CHECK(f.route("10.0.0.1") == before);  // added, not replaced
  CHECK(f.route("10.0.0.2") == before);
  // The old snapshot is immutable: it never saw the new route.
  CHECK(old->routes.lookup(IP("10.0.0.2")) == nullptr);
}

TEST_CASE("replace_allowed_ips, remove and replace_peers") {
  fixture f;
  device_update u;
  u.peers = {peer_with(1, {"10.0.0.1/32", "10.0.0.2/32"}), peer_with(2, {"10.0.0.3/32"})};
  REQUIRE(f.apply(u).ok());

  device_update r;
  r.peers = {peer_with(1, {"10.0.0.9/32"})};
  r.peers[0].replace_allowed_ips = true;
  REQUIRE(f.apply(r).ok());
  CHECK(f.route("10.0.0.1") == nullptr);
  CHECK(f.route("10.0.0.9") == f.cur->find(key_n(1)));
  CHECK(f.route("10.0.0.3") == f.cur->find(key_n(2)));  // other peers untouched

  device_update rm;
  rm.peers.emplace_back().key = key_n(2);
  rm.peers[0].remove = true;
  REQUIRE(f.apply(rm).ok());
  CHECK(f.cur->find(key_n(2)) == nullptr);
  CHECK(f.route("10.0.0.3") == nullptr);

  device_update rp;
  rp.replace_peers = true;
  rp.peers = {peer_with(3, {"10.0.0.4/32"})};
  REQUIRE(f.apply(rp).ok());
  REQUIRE(f.cur->peers.size() == 1);
  CHECK(f.route("10.0.0.9") == nullptr);
  CHECK(f.route("10.0.0.4") == f.cur->find(key_n(3)));
}

TEST_CASE("an allowed IP claimed by a second peer moves to it") {
  fixture f;
  device_update u;
  u.peers = {peer_with(1, {"10.0.0.0/24"}), peer_with(2, {"10.0.0.0/24"})};
  REQUIRE(f.apply(u).ok());
  CHECK(f.route("10.0.0.1") == f.cur->find(key_n(2)));
  CHECK(f.cur->routes.list(f.cur->find(key_n(1))).empty());
}

TEST_CASE("update_only never creates a peer; remove_allowed_ips only removes the peer's own") {
  fixture f;
  device_update u;
  u.peers = {peer_with(1, {"10.0.0.1/32"})};
  u.peers[0].update_only = true;
  REQUIRE(f.apply(u).ok());
  CHECK(f.cur->peers.empty());

  device_update a;
  a.peers = {peer_with(1, {"10.0.0.1/32"}), peer_with(2, {"10.0.0.2/32"})};
  REQUIRE(f.apply(a).ok());
  device_update r;
  r.peers.emplace_back().key = key_n(1);
  r.peers[0].remove_allowed_ips = {C("10.0.0.2/32"), C("10.0.0.1/32")};
  REQUIRE(f.apply(r).ok());
  CHECK(f.route("10.0.0.1") == nullptr);
  CHECK(f.route("10.0.0.2") == f.cur->find(key_n(2)));
}

TEST_CASE("a failing update changes nothing, not even fields of shared peers") {
  fixture f;
  device_update u;
  u.peers = {peer_with(1, {"10.0.0.1/32"})};
  REQUIRE(f.apply(u).ok());
  const device_peer* p = f.cur->find(key_n(1));
  auto before = f.cur;

  device_update bad;
  bad.peers = {peer_with(1, {})};
  bad.peers[0].endpoint = *net::endpoint::parse("192.0.2.9:1");
  for (size_t i = 0; i <= max_allowed_ips_per_peer; ++i)
    bad.peers[0].allowed_ips.emplace_back(net::ip_address::v4(0x0a010000u + uint32_t(i)), 32);
  apply_effects fx;
  auto r = f.b.apply(*f.cur, bad, fx);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::exhausted);
  CHECK_FALSE(p->endpoint().has_value());
  CHECK(f.cur == before);
}

TEST_CASE("the peer count is bounded") {
  fixture f;
  device_update u;
  for (size_t i = 0; i <= max_peers; ++i) {
    peer_update p;
    p.key.bytes[0] = uint8_t(i);
    p.key.bytes[1] = uint8_t(i >> 8);
    p.key.bytes[2] = 1;
    u.peers.push_back(p);
  }
  auto s = f.apply(u);
  REQUIRE_FALSE(s.ok());
  CHECK(s.err().code == errc::exhausted);
  CHECK(f.cur->peers.empty());
}

TEST_CASE("setting the same private key again keeps the identity; a new one replaces it") {
  fixture f;
  auto sk = crypto::generate_private_key();
  device_update u;
  u.private_key = secret_key(sk.span());
  apply_effects fx1;
  auto s1 = f.b.apply(*f.cur, u, fx1);
  REQUIRE(s1.ok());
  CHECK(fx1.identity_changed);
  f.cur = *s1;
  auto id = f.cur->identity;
  REQUIRE(id);
  CHECK(id->public_key == crypto::public_from_private(sk));

  apply_effects fx2;
  auto s2 = f.b.apply(*f.cur, u, fx2);
  REQUIRE(s2.ok());
  CHECK_FALSE(fx2.identity_changed);
  CHECK((*s2)->identity == id);

  device_update z;
  z.private_key = secret_key();  // all zero = remove
  apply_effects fx3;
  auto s3 = f.b.apply(**s2, z, fx3);
  REQUIRE(s3.ok());
  CHECK(fx3.identity_changed);
  CHECK((*s3)->identity == nullptr);
}

TEST_CASE("staged packets are bounded, oldest dropped first") {
  fixture f;
  device_update u;
  u.peers = {peer_with(1, {})};
  REQUIRE(f.apply(u).ok());
  device_peer* p = f.cur->find(key_n(1));
  for (size_t i = 0; i < max_staged_packets; ++i) {
    uint8_t b = uint8_t(i);
    CHECK(p->stage({&b, 1}));
  }
  uint8_t last = 0xee;
  CHECK_FALSE(p->stage({&last, 1}));
  auto q = p->take_staged();
  REQUIRE(q.size() == max_staged_packets);
  CHECK(q.front()[0] == 1);
  CHECK(q.back()[0] == 0xee);
  CHECK(p->take_staged().empty());
}

TEST_CASE("a peer with the device's own public key is ignored, and dropped when the device takes its key") {
  fixture f;
  const auto sk = crypto::generate_private_key();
  const auto self = crypto::public_from_private(sk);
  device_update u;
  u.private_key = secret_key(sk.span());
  peer_update mine;
  mine.key = self;
  mine.allowed_ips.push_back(C("10.5.0.0/24"));
  u.peers = {mine, peer_with(2, {"10.6.0.0/24"})};
  REQUIRE(f.apply(u).ok());
  CHECK(f.cur->peers.size() == 1);
  CHECK(f.cur->find(self) == nullptr);
  CHECK(f.route("10.5.0.1") == nullptr);
  CHECK(f.route("10.6.0.1") == f.cur->find(key_n(2)));

  // The other way round: the peer exists first, then the device takes the
  // private key whose public half it is.
  fixture g;
  device_update first;
  first.peers = {mine};
  REQUIRE(g.apply(first).ok());
  REQUIRE(g.cur->find(self) != nullptr);
  device_update rekey;
  rekey.private_key = secret_key(sk.span());
  REQUIRE(g.apply(rekey).ok());
  CHECK(g.cur->find(self) == nullptr);
  CHECK(g.cur->routes.lookup(IP("10.5.0.1")) == nullptr);
}
