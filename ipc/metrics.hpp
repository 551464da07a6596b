// Request metrics for /metrics: counts by (op, result) and a latency
// histogram. Lock-free: one relaxed atomic add per request.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
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

// IPC socket connections and requests by the peer's uid (SO_PEERCRED), and
// the connections refused by the per-uid limit. At most max_uids distinct
// uids get rows of their own; the rest share uid="other".
class peer_metrics {
 public:
  static constexpr size_t max_uids = 64;
  void connected(uint32_t uid);
  void closed(uint32_t uid);
  void refused(uint32_t uid);
  void request(uint32_t uid);
  // Connections of `uid` open now.
  size_t open(uint32_t uid) const;
  std::string render() const;

 private:
  struct row {
    uint64_t connections = 0, refused = 0, requests = 0;
    size_t open = 0;
  };
  row& at(uint32_t uid);  // mu_ held
  mutable std::mutex mu_;  // guards rows_, other_
  std::map<uint32_t, row> rows_;
  row other_;
};

}  // namespace overlayd::ipc
