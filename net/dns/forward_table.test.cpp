#include "net/dns/forward_table.hpp"

#include <doctest/doctest.h>

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::net::dns;

namespace {
pending_forward entry(steady_time deadline, uint16_t client_id = 1) {
  pending_forward p;
  p.query.hdr.id = client_id;
  p.deadline = deadline;
  return p;
}
}  // namespace

TEST_CASE("pending forwards get distinct ids and come back by id") {
  uint16_t next = 7;
  forward_table t(10, [&] { return next; });  // always the same id: forces probing
  auto t0 = steady_time{};
  auto a = t.insert(entry(t0, 100));
  auto b = t.insert(entry(t0, 200));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(t.find(*b)->query.hdr.id == 200);
  CHECK(t.take(*a)->query.hdr.id == 100);
  CHECK_FALSE(t.take(*a).has_value());
  CHECK(t.size() == 1);
}

TEST_CASE("the pending table is bounded") {
  forward_table t(3);
  for (int i = 0; i < 3; ++i) REQUIRE(t.insert(entry(steady_time{})).ok());
  auto r = t.insert(entry(steady_time{}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::exhausted);
}

TEST_CASE("expired forwards leave in deadline order") {
  using std::chrono::seconds;
  forward_table t(10);
  steady_time t0{};
  REQUIRE(t.insert(entry(t0 + seconds(3), 3)).ok());
  REQUIRE(t.insert(entry(t0 + seconds(1), 1)).ok());
  REQUIRE(t.insert(entry(t0 + seconds(2), 2)).ok());
  CHECK(t.next_deadline() == t0 + seconds(1));
  auto gone = t.take_expired(t0 + seconds(2));
  REQUIRE(gone.size() == 2);
  CHECK(gone[0].query.hdr.id == 1);
  CHECK(gone[1].query.hdr.id == 2);
  CHECK(t.size() == 1);
  CHECK(t.next_deadline() == t0 + seconds(3));
  CHECK(t.take_expired(t0 + seconds(10)).size() == 1);
  CHECK_FALSE(t.next_deadline().has_value());
}
