// Request metrics for /metrics: counts by (op, result) and a latency
// histogram. Lock-free: one relaxed atomic add per request.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <variant>

#include "ipc/types.hpp"

namespace overlayd::ipc {

class request_metrics {
 public:
  static constexpr size_t ops = std::variant_size_v<request>;
  static constexpr size_t results = std::variant_size_v<response>;
  // Upper bounds in seconds (Prometheus `le`), +Inf implied.
  static constexpr std::array<double, 12> bounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                    0.0025,  0.005,  0.01,    0.025,  0.1,
                                                    0.5,     2.5};

  void record(size_t op, size_t result, double seconds) noexcept;
  // Invalid requests never reach an op; they count here.
  void record_rejected() noexcept { rejected_.fetch_add(1, std::memory_order_relaxed); }

  // Prometheus text exposition of everything above.
  std::string render() const;

 private:
  std::array<std::array<std::atomic<uint64_t>, results>, ops> count_{};
  std::array<std::atomic<uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_us_{0};
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace overlayd::ipc
