#include <doctest/doctest.h>

#include <string>

#include "actors/trace.hpp"

using namespace overlayd::actors;

namespace {
void record(trace_ring& ring, trace_record r) {
  r.seq = ring.reserve();
  ring.commit(r);
}
trace_record rec(uint64_t corr) {
  trace_record r;
  r.correlation = corr;
  r.receiver = "allocator";
  return r;
}
}  // namespace

TEST_CASE("the trace ring numbers records and reads them back oldest first") {
  trace_ring ring(8);
  for (uint64_t i = 0; i < 5; ++i) record(ring, rec(i % 2));
  CHECK(ring.last_seq() == 5);
  auto all = ring.read(0, 100);
  REQUIRE(all.size() == 5);
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i].seq == i + 1);
  auto after3 = ring.read(3, 100);
  REQUIRE(after3.size() == 2);
  CHECK(after3[0].seq == 4);
  CHECK(ring.read(0, 2).size() == 2);
}

TEST_CASE("the trace ring keeps only the newest records when it wraps") {
  trace_ring ring(4);
  for (int i = 0; i < 10; ++i) record(ring, rec(7));
  auto all = ring.read(0, 100);
  REQUIRE(all.size() == 4);
  CHECK(all.front().seq == 7);
  CHECK(all.back().seq == 10);
}

TEST_CASE("the trace ring filters by correlation id") {
  trace_ring ring(16);
  for (uint64_t i = 0; i < 9; ++i) record(ring, rec(i % 3));
  auto ones = ring.read(0, 100, 1);
  REQUIRE(ones.size() == 3);
  for (auto& r : ones) CHECK(r.correlation == 1);
}

TEST_CASE("a reserved but uncommitted record reads as absent, and later commits keep seq order") {
  trace_ring ring(8);
  auto slow = rec(1);
  slow.seq = ring.reserve();  // handling starts first...
  record(ring, rec(2));       // ...a later message finishes first
  auto now = ring.read(0, 100);
  REQUIRE(now.size() == 1);
  CHECK(now[0].seq == 2);
  ring.commit(slow);
  auto all = ring.read(0, 100);
  REQUIRE(all.size() == 2);
  CHECK(all[0].seq == 1);
  CHECK(all[0].correlation == 1);
}

TEST_CASE("a record keeps the service its request names, through wrapping and late commits") {
  trace_ring ring(4);
  auto named = [](uint64_t corr, std::string service) {
    auto r = rec(corr);
    r.service = std::move(service);
    return r;
  };
  const std::string long_name(200, 's');  // past the string's in-place buffer
  for (int i = 0; i < 6; ++i) record(ring, named(1, i % 2 ? long_name : "web"));
  auto slow = named(2, "db");
  slow.seq = ring.reserve();
  record(ring, rec(3));  // no service
  ring.commit(slow);
  auto all = ring.read(0, 100);
  REQUIRE(all.size() == 4);
  CHECK(all[0].service == "web");      // seq 5
  CHECK(all[1].service == long_name);  // seq 6
  CHECK(all[2].service == "db");       // seq 7, committed last
  CHECK(all[3].service.empty());       // seq 8
}
