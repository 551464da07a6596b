#include "net/wg/allowed_ips.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <random>

using namespace overlayd;
using namespace overlayd::wg;

namespace {

net::cidr C(const char* s) { return net::cidr::parse(s).value(); }
net::ip_address A(const char* s) { return net::ip_address::parse(s).value(); }

// Does prefix c cover a? Whole bytes, then the leftover bits under a mask.
bool covers(const net::cidr& c, const net::ip_address& a) {
  const unsigned len = c.prefix_len();
  const uint8_t* x = c.address().data();
  const uint8_t* y = a.data();
  if (std::memcmp(x, y, len / 8) != 0) return false;
  if (len % 8 == 0) return true;
  const uint8_t mask = uint8_t(0xff << (8 - len % 8));
  return (x[len / 8] & mask) == (y[len / 8] & mask);
}

// The obvious reference: scan every prefix, keep the longest match.
struct naive_table {
  std::map<std::string, std::pair<net::cidr, uint32_t>> entries;
  void insert(const net::cidr& c, uint32_t v) { entries[c.normalized().to_string()] = {c.normalized(), v}; }
  bool remove(const net::cidr& c) { return entries.erase(c.normalized().to_string()) > 0; }
  std::optional<uint32_t> lookup(const net::ip_address& a) const {
    std::optional<uint32_t> best;
    int best_len = -1;
    for (const auto& [k, e] : entries)
      if (e.first.fam() == a.fam() && covers(e.first, a) && int(e.first.prefix_len()) > best_len) {
        best = e.second;
        best_len = int(e.first.prefix_len());
      }
    return best;
  }
};

net::ip_address random_address(std::mt19937_64& rng, bool v6) {
  if (!v6) return net::ip_address::v4(uint32_t(rng()));
  std::array<uint8_t, 16> b{};
  for (auto& x : b) x = uint8_t(rng());
  // Share a few leading bytes so prefixes actually overlap.
  b[0] = 0xfd;
  b[1] = uint8_t(rng() % 4);
  return net::ip_address::v6(b);
}

}  // namespace

TEST_CASE("longest prefix wins for v4 and v6") {
  allowed_ips<uint32_t> t;
  REQUIRE(t.insert(C("0.0.0.0/0"), 1).ok());
  REQUIRE(t.insert(C("10.0.0.0/8"), 2).ok());
  REQUIRE(t.insert(C("10.1.0.0/16"), 3).ok());
  REQUIRE(t.insert(C("10.1.2.3/32"), 4).ok());
  REQUIRE(t.insert(C("fd00::/8"), 5).ok());
  REQUIRE(t.insert(C("fd00::1/128"), 6).ok());
  struct row {
    const char* ip;
    std::optional<uint32_t> peer;
  };
  const row table[] = {{"1.2.3.4", 1},   {"10.9.9.9", 2}, {"10.1.9.9", 3}, {"10.1.2.3", 4},
                       {"10.1.2.4", 3},  {"fd00::1", 6},  {"fd00::2", 5},  {"fe80::1", std::nullopt},
                       {"::ffff:10.1.2.3", std::nullopt}};
  for (const auto& r : table) {
    INFO(r.ip);
    const uint32_t* v = t.lookup(A(r.ip));
    CHECK((v ? std::optional<uint32_t>(*v) : std::nullopt) == r.peer);
  }
  CHECK(t.size() == 6);
}

TEST_CASE("insert masks host bits, re-points an existing prefix, and lists per peer") {
  allowed_ips<uint32_t> t;
  REQUIRE(t.insert(C("10.1.2.3/24"), 1).ok());
  REQUIRE(t.insert(C("10.1.2.0/24"), 2).ok());  // same prefix: moves to peer 2
  CHECK(t.size() == 1);
  CHECK(*t.lookup(A("10.1.2.200")) == 2);
  REQUIRE(t.insert(C("fd00::/64"), 2).ok());
  REQUIRE(t.insert(C("192.168.0.0/16"), 2).ok());
  REQUIRE(t.insert(C("0.0.0.0/0"), 1).ok());
  const auto l2 = t.list(2);
  REQUIRE(l2.size() == 3);
  CHECK(l2[0].to_string() == "10.1.2.0/24");
  CHECK(l2[1].to_string() == "192.168.0.0/16");
  CHECK(l2[2].to_string() == "fd00::/64");
  CHECK(t.list(1).at(0).to_string() == "0.0.0.0/0");
  CHECK(t.remove_by_value(2) == 3);
  CHECK(t.size() == 1);
  CHECK(*t.lookup(A("10.1.2.200")) == 1);
  CHECK(t.remove(C("0.0.0.0/0")));
  CHECK(!t.remove(C("0.0.0.0/0")));
  CHECK(t.lookup(A("10.1.2.200")) == nullptr);
}

TEST_CASE("the table refuses to grow past its limit") {
  allowed_ips<uint32_t> t(3);
  CHECK(t.insert(C("10.0.0.1/32"), 1).ok());
  CHECK(t.insert(C("10.0.0.2/32"), 1).ok());
  CHECK(t.insert(C("10.0.0.3/32"), 1).ok());
  auto r = t.insert(C("10.0.0.4/32"), 1);
  REQUIRE(!r.ok());
  CHECK(r.err().code == errc::exhausted);
  CHECK(t.insert(C("10.0.0.3/32"), 2).ok());  // re-pointing is not growth
  CHECK(t.lookup(A("10.0.0.4")) == nullptr);
}

TEST_CASE("allowed ips agree with a naive linear reference on random prefixes and lookups") {
  std::mt19937_64 rng(42);
  allowed_ips<uint32_t> t;
  naive_table ref;
  std::vector<net::cidr> inserted;
  for (int i = 0; i < 2000; ++i) {
    const bool v6 = rng() % 3 == 0;
    const unsigned len = unsigned(rng() % ((v6 ? 128 : 32) + 1));
    const net::cidr c(random_address(rng, v6), len);
    const uint32_t peer = uint32_t(rng() % 50);
    REQUIRE(t.insert(c, peer).ok());
    ref.insert(c, peer);
    inserted.push_back(c);
    if (rng() % 5 == 0) {  // remove a random earlier prefix now and then
      const auto& victim = inserted[rng() % inserted.size()];
      CHECK(t.remove(victim) == ref.remove(victim));
    }
    if (i % 500 == 499) {  // and sometimes a whole peer
      const uint32_t gone = uint32_t(rng() % 50);
      size_t expect = 0;
      for (auto it = ref.entries.begin(); it != ref.entries.end();)
        if (it->second.second == gone) {
          it = ref.entries.erase(it);
          ++expect;
        } else {
          ++it;
        }
      CHECK(t.remove_by_value(gone) == expect);
    }
  }
  CHECK(t.size() == ref.entries.size());
  for (int i = 0; i < 5000; ++i) {
    const auto a = random_address(rng, rng() % 3 == 0);
    const uint32_t* got = t.lookup(a);
    const auto want = ref.lookup(a);
    REQUIRE((got ? std::optional<uint32_t>(*got) : std::nullopt) == want);
  }
  // Lookups of the inserted networks themselves exercise exact matches.
  for (const auto& c : inserted) {
    const uint32_t* got = t.lookup(c.network());
    REQUIRE((got ? std::optional<uint32_t>(*got) : std::nullopt) == ref.lookup(c.network()));
  }
  // list() returns exactly the reference's prefixes for each peer.
  for (uint32_t p = 0; p < 50; ++p) {
    std::vector<std::string> want;
    for (const auto& [k, e] : ref.entries)
      if (e.second == p) want.push_back(e.first.to_string());
    std::vector<std::string> got;
    for (const auto& c : t.list(p)) got.push_back(c.to_string());
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    CHECK(got == want);
  }
  // A copy is an independent snapshot.
  auto snapshot = t;
  t.clear();
  CHECK(t.size() == 0);
  CHECK(snapshot.size() == ref.entries.size());
}

TEST_CASE("exact finds only that prefix; for_each visits every prefix once, in one walk") {
  allowed_ips<int> t;
  auto c = [](const char* s) { return *net::cidr::parse(s); };
  REQUIRE(t.insert(c("10.0.0.0/8"), 1));
  REQUIRE(t.insert(c("10.1.0.0/16"), 2));
  REQUIRE(t.insert(c("10.1.2.3/32"), 2));
  REQUIRE(t.insert(c("fd00::/64"), 3));
  REQUIRE(t.exact(c("10.1.0.0/16")) != nullptr);
  CHECK(*t.exact(c("10.1.0.0/16")) == 2);
  CHECK(*t.exact(c("10.1.9.9/16")) == 2);  // host bits masked
  CHECK(t.exact(c("10.1.0.0/17")) == nullptr);
  CHECK(t.exact(c("10.1.2.0/24")) == nullptr);  // a node on the path, no value
  CHECK(*t.exact(c("fd00::/64")) == 3);
  std::vector<std::pair<std::string, int>> seen;
  t.for_each([&](const net::cidr& x, const int& v) { seen.emplace_back(x.to_string(), v); });
  CHECK(seen == std::vector<std::pair<std::string, int>>{
                    {"10.0.0.0/8", 1}, {"10.1.0.0/16", 2}, {"10.1.2.3/32", 2}, {"fd00::/64", 3}});
}
