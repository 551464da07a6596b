// What the engine exposes about its actors: the trace ring and per-actor
// counters (mailbox depth, messages handled). Shared by all actors of one
// engine; outlives them (the engine owns it).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/trace.hpp"

namespace overlayd::actors {

// Engine-wide event counters exported in /metrics.
struct engine_counters {
  // An AllowedIP that moved from one peer to another (WireGuard's rule; the
  // agent may rely on it, so it is counted and logged, not refused).
  std::atomic<uint64_t> allowed_ip_moves{0};
};

struct actor_stats {
  std::atomic<int64_t> mailbox{0};   // enqueued and not yet consumed
  std::atomic<uint64_t> handled{0};  // messages consumed
};

class observability {
 public:
  explicit observability(size_t trace_capacity) : ring_(trace_capacity) {}

  trace_ring& ring() noexcept { return ring_; }
  engine_counters& counters() noexcept { return counters_; }
  const engine_counters& counters() const noexcept { return counters_; }
  const trace_ring& ring() const noexcept { return ring_; }

  // One stats block per actor name; an actor restarted under the same name
  // keeps counting in the same block.
  std::shared_ptr<actor_stats> stats_for(const std::string& name) {
    std::lock_guard lock(mu_);
    auto& p = stats_[name];
    if (!p) p = std::make_shared<actor_stats>();
    return p;
  }

  struct row {
    std::string name;
    int64_t mailbox;
    uint64_t handled;
  };
  std::vector<row> snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<row> out;
    for (auto& [name, s] : stats_)
      out.push_back({name, s->mailbox.load(), s->handled.load()});
    return out;
  }

  // The nat_orchestrator's per-peer connect-attempt log, as JSON text
  // (GET /v1/nat/attempts). Published whole whenever it changes.
  void set_nat_attempts(std::string json) {
    std::lock_guard lock(mu_);
    nat_attempts_ = std::move(json);
  }
  std::string nat_attempts() const {
    std::lock_guard lock(mu_);
    return nat_attempts_;
  }
  // The NAT mapping behaviour and STUN problems (GET /v1/nat/mapping).
  void set_nat_mapping(std::string json) {
    std::lock_guard lock(mu_);
    nat_mapping_ = std::move(json);
  }
  std::string nat_mapping() const {
    std::lock_guard lock(mu_);
    return nat_mapping_;
  }

  // State files that failed to parse and were moved aside, and journal
  // entries skipped as not ours: what /healthz and /metrics report so an
  // operator learns of them without reading the log. Bounded: the oldest
  // lines go first.
  static constexpr size_t max_state_problems = 64;
  void report_state_problem(std::string line, bool quarantined) {
    std::lock_guard lock(mu_);
    if (quarantined) ++files_quarantined_;
    else ++journal_entries_skipped_;
    if (state_problems_.size() >= max_state_problems) state_problems_.erase(state_problems_.begin());
    state_problems_.push_back(std::move(line));
  }
  std::vector<std::string> state_problems() const {
    std::lock_guard lock(mu_);
    return state_problems_;
  }
  uint64_t files_quarantined() const {
    std::lock_guard lock(mu_);
    return files_quarantined_;
  }
  // Times our nft tables were found changed by someone else and restored.
  void count_drift_repair() { drift_repairs_.fetch_add(1); }
  uint64_t drift_repairs() const { return drift_repairs_.load(); }
  uint64_t journal_entries_skipped() const {
    std::lock_guard lock(mu_);
    return journal_entries_skipped_;
  }

 private:
  trace_ring ring_;
  engine_counters counters_;
  mutable std::mutex mu_;  // guards stats_ (the map, not the counters)
  std::map<std::string, std::shared_ptr<actor_stats>> stats_;
  std::string nat_attempts_ = "[]";  // guarded by mu_
  std::string nat_mapping_ = R"({"mapping":"unknown","problems":[]})";  // guarded by mu_
  std::vector<std::string> state_problems_;  // guarded by mu_
  uint64_t files_quarantined_ = 0;           // guarded by mu_
  uint64_t journal_entries_skipped_ = 0;     // guarded by mu_
  std::atomic<uint64_t> drift_repairs_{0};
};

}  // namespace overlayd::actors
