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

struct actor_stats {
  std::atomic<int64_t> mailbox{0};   // enqueued and not yet consumed
  std::atomic<uint64_t> handled{0};  // messages consumed
};

class observability {
 public:
  explicit observability(size_t trace_capacity) : ring_(trace_capacity) {}

  trace_ring& ring() noexcept { return ring_; }
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

 private:
  trace_ring ring_;
  mutable std::mutex mu_;  // guards stats_ (the map, not the counters)
  std::map<std::string, std::shared_ptr<actor_stats>> stats_;
};

}  // namespace overlayd::actors
