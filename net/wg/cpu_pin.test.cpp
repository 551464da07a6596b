#include <doctest/doctest.h>
#include <sched.h>

#include <thread>

#include "net/wg/cpu_pin.hpp"

using namespace overlayd::wg;

namespace {

cpu_set_t affinity() {
  cpu_set_t s;
  CPU_ZERO(&s);
  REQUIRE(::sched_getaffinity(0, sizeof s, &s) == 0);
  return s;
}

// Runs pin_to_cpu_slot(slot) on a fresh thread (pinning is per thread, so
// the test's own thread keeps its mask); returns the result and the mask
// the thread had afterwards.
std::pair<int, cpu_set_t> pin_in_thread(long slot) {
  std::pair<int, cpu_set_t> r;
  std::thread([&] {
    r.first = pin_to_cpu_slot(slot);
    CPU_ZERO(&r.second);
    ::sched_getaffinity(0, sizeof r.second, &r.second);
  }).join();
  return r;
}

}  // namespace

TEST_CASE("consecutive devices get consecutive CPU slot pairs") {
  const long a = next_cpu_slot();
  const long b = next_cpu_slot();
  CHECK(a >= 0);
  CHECK(b == a + 2);
}

TEST_CASE("the two slots of a device pin its threads to two different allowed CPUs") {
  const cpu_set_t before = affinity();
  const int n = CPU_COUNT(&before);
  const auto tx = pin_in_thread(0);
  const auto rx = pin_in_thread(1);
  const auto off = pin_in_thread(-1);
  // Pinning touched only the pinned threads.
  cpu_set_t now = affinity();
  CHECK(CPU_EQUAL(&now, &before));
  CHECK(off.first == -1);
  CHECK(CPU_EQUAL(&off.second, &before));
  if (n >= 2) {
    REQUIRE(tx.first >= 0);
    REQUIRE(rx.first >= 0);
    CHECK(tx.first != rx.first);
    CHECK(CPU_ISSET(tx.first, &before));
    CHECK(CPU_ISSET(rx.first, &before));
    CHECK(CPU_COUNT(&tx.second) == 1);
    CHECK(CPU_ISSET(tx.first, &tx.second));
    CHECK(CPU_COUNT(&rx.second) == 1);
    CHECK(CPU_ISSET(rx.first, &rx.second));
    // Slots wrap around the allowed set.
    CHECK(pin_in_thread(n).first == tx.first);
  } else {
    // One CPU: nothing to spread, nothing changed.
    CHECK(tx.first == -1);
    CHECK(CPU_EQUAL(&tx.second, &before));
  }
}

TEST_CASE("with a single allowed CPU nothing is pinned") {
  const cpu_set_t before = affinity();
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c)
    if (CPU_ISSET(c, &before)) first = c;
  REQUIRE(first >= 0);
  int got = 0;
  bool restricted = false;
  cpu_set_t after;
  std::thread([&] {  // no doctest assertions off the test thread
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    restricted = ::sched_setaffinity(0, sizeof one, &one) == 0;
    got = pin_to_cpu_slot(1);
    CPU_ZERO(&after);
    ::sched_getaffinity(0, sizeof after, &after);
  }).join();
  REQUIRE(restricted);
  CHECK(got == -1);
  CHECK(CPU_COUNT(&after) == 1);
  CHECK(CPU_ISSET(first, &after));
}
