#include "net/wg/replay_window.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <random>
#include <set>

using namespace overlayd::wg;

namespace {

// The rule, written the slow and obvious way.
struct naive_window {
  std::set<uint64_t> seen;
  std::optional<uint64_t> highest;
  bool update(uint64_t c) {
    if (c >= reject_after_messages || seen.count(c)) return false;
    if (highest && c < *highest && *highest - c >= replay_window::window_size) return false;
    seen.insert(c);
    if (!highest || c > *highest) highest = c;
    return true;
  }
};

}  // namespace

TEST_CASE("replay window is at least 2048 bits") { CHECK(replay_window::window_size >= 2048); }

TEST_CASE("replay window accepts and rejects at its edges") {
  constexpr uint64_t W = replay_window::window_size;
  struct step {
    uint64_t counter;
    bool accepted;
    const char* why;
  };
  const step table[] = {
      {0, true, "first packet, counter 0"},
      {0, false, "exact replay of 0"},
      {1, true, "next in order"},
      {W + 100, true, "jump ahead"},
      {W + 100, false, "replay of the highest"},
      {101, true, "oldest counter still inside the window (highest - W + 1)"},
      {100, false, "first counter outside the window (highest - W)"},
      {1, false, "far behind"},
      {W + 99, true, "just below highest"},
      {W + 99, false, "replay just below highest"},
      {W + 164, true, "crosses into the next word"},
      {164, false, "now exactly W behind"},
      {165, true, "now W - 1 behind"},
      {10 * W, true, "jump of more than the whole bitmap clears it"},
      {9 * W + 1, true, "inside the window after the big jump (stale bits were cleared)"},
      {9 * W, false, "exactly W behind after the big jump"},
      {reject_after_messages - 1, true, "the last usable counter"},
      {reject_after_messages, false, "REJECT_AFTER_MESSAGES itself"},
      {~uint64_t{0}, false, "the maximum counter"},
  };
  replay_window w;
  for (const auto& s : table) {
    INFO(s.why << " counter=" << s.counter);
    CHECK(w.check(s.counter) == s.accepted);
    CHECK(w.update(s.counter) == s.accepted);
  }
}

TEST_CASE("replay window agrees with a naive reference on random traffic") {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 20; ++round) {
    replay_window w;
    naive_window ref;
    uint64_t base = rng() % 1000;
    for (int i = 0; i < 20000; ++i) {
      // Mostly nearby counters (reordering, duplicates), sometimes jumps.
      const uint64_t r = rng() % 100;
      uint64_t c;
      if (r < 70) {
        c = base + rng() % 64;
        base += rng() % 3;
      } else if (r < 95) {
        const uint64_t back = rng() % (2 * replay_window::window_size);
        c = base > back ? base - back : 0;
      } else {
        base += rng() % (3 * replay_window_bits);
        c = base;
      }
      REQUIRE(w.update(c) == ref.update(c));
    }
  }
}

TEST_CASE("a reset replay window accepts counter 0 again") {
  replay_window w;
  CHECK(w.update(0));
  CHECK(!w.update(0));
  w.reset();
  CHECK(w.update(0));
}
