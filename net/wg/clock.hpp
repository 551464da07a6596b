// net/wg/clock.hpp — the injectable clock every protocol class reads.
//
//   clock            interface: now() (monotonic, for timers and ages) and
//                    wall_now() (system time, for TAI64N timestamps).
//   system_clock_source  the real clocks (steady_clock / system_clock).
//   fake_clock       for tests: starts at an arbitrary point, moves only with
//                    advance(d) (both clocks together). Not thread-safe
//                    against concurrent advance(); reads are atomic.
// Namespace overlayd::wg.
#pragma once

#include <atomic>
#include <chrono>

namespace overlayd::wg {

using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;
using wall_time = std::chrono::system_clock::time_point;

class clock {
 public:
  virtual ~clock() = default;
  virtual time_point now() const noexcept = 0;
  virtual wall_time wall_now() const noexcept = 0;
};

class system_clock_source final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
  wall_time wall_now() const noexcept override { return std::chrono::system_clock::now(); }
};

class fake_clock final : public clock {
 public:
  fake_clock() = default;
  time_point now() const noexcept override { return time_point(duration(mono_.load())); }
  wall_time wall_now() const noexcept override {
    return wall_time(std::chrono::duration_cast<wall_time::duration>(duration(wall_.load())));
  }
  void advance(duration d) noexcept {
    mono_ += d.count();
    wall_ += d.count();
  }

 private:
  // Arbitrary non-zero origins so "time zero" bugs show up.
  std::atomic<duration::rep> mono_{std::chrono::duration_cast<duration>(std::chrono::hours(1000)).count()};
  std::atomic<duration::rep> wall_{
      std::chrono::duration_cast<duration>(std::chrono::seconds(1'800'000'000)).count()};
};

}  // namespace overlayd::wg
