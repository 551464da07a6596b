// The actor trace: every message every actor consumes, in a bounded ring.
//
// Recording is on the hot path of every actor, so a record is small and
// cheap to copy (actor names are static strings, the message kind is the raw
// atom value), written under one short mutex. The one string a record owns is
// the service a request names, set only on the hops that carry the request
// itself (the gateway's and the supervisor's): empty everywhere else, and
// kept in place (no allocation) up to 15 bytes. Rendering to JSON/Perfetto is
// the edge's job (ipc/trace_json.*).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace overlayd::actors {

struct trace_record {
  uint64_t seq = 0;             // 1, 2, 3... across the whole engine
  int64_t mono_ns = 0;          // steady_clock time handling started
  int64_t handling_ns = 0;      // how long the handler ran
  uint64_t sender_id = 0;       // 0 = not an actor (a socket thread, HTTP, embedder)
  const char* sender = "";      // static name
  uint64_t receiver_id = 0;
  const char* receiver = "";
  uint64_t atom = 0;            // caf::atom_value of element 0, 0 if none
  int op_index = -1;            // ipc::request alternative carried, -1 if none
  int result_index = -1;        // ipc::response alternative carried, -1 if none
  bool is_response = false;     // a reply to an earlier request
  uint64_t correlation = 0;     // 0 = none (e.g. a timer, a down message)
  // The service the carried ipc::request names (setup/teardown_service_overlay,
  // allocate_ip, attach_container, a peer op scoped to a service); empty when
  // it names none or the message carries no request.
  std::string service;
};

class trace_ring {
 public:
  explicit trace_ring(size_t capacity);

  bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }
  void set_enabled(bool on) noexcept { enabled_.store(on, std::memory_order_relaxed); }
  size_t capacity() const noexcept { return slots_.size(); }

  // A sequence number for a message about to be handled: taken when handling
  // starts, so seq order is causal order (a request's hops number in order).
  uint64_t reserve() noexcept { return next_seq_.fetch_add(1, std::memory_order_relaxed); }
  // Stores a record whose seq came from reserve(), overwriting the oldest
  // record when full. A reserved seq not yet committed reads as absent.
  void commit(trace_record r);

  // Records with seq > since, oldest first, at most `limit`, optionally only
  // those of one correlation id.
  std::vector<trace_record> read(uint64_t since, size_t limit,
                                 std::optional<uint64_t> correlation = std::nullopt) const;
  uint64_t last_seq() const;

  static int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  std::atomic<bool> enabled_{true};
  std::atomic<uint64_t> next_seq_{1};
  mutable std::mutex mu_;  // guards slots_
  std::vector<trace_record> slots_;
};

}  // namespace overlayd::actors
