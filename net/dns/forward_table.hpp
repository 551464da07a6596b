// Queries forwarded upstream and awaiting a reply (UDP clients). Each gets a
// fresh random 16-bit id on the upstream leg, so replies are matched by id
// and upstream address, and an off-path spoofer has to guess the id. Plain
// data, no sockets, no clock of its own: the server passes `now`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "net/dns/message.hpp"
#include "net/dns/socket.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

using steady_time = std::chrono::steady_clock::time_point;

struct pending_forward {
  message query;            // the client's query: to check and answer with
  endpoint client;          // where the reply goes
  int listen_fd = -1;       // the socket the query came in on (replies leave from it)
  local_dst local;          // and from this address, when that socket is a wildcard
  size_t max_reply = 0;     // the client's UDP size
  size_t upstream = 0;      // index into the upstream list being tried
  endpoint upstream_addr;   // replies must come from here
  steady_time deadline{};   // give up on this upstream at
};

class forward_table {
 public:
  using id_source = std::function<uint16_t()>;
  // `ids` defaults to getrandom(2); tests pass a deterministic one.
  explicit forward_table(size_t limit, id_source ids = {});

  // Files `p` under an unused random id; errc::exhausted when full.
  result<uint16_t> insert(pending_forward p);
  const pending_forward* find(uint16_t id) const;
  std::optional<pending_forward> take(uint16_t id);
  // Removes and returns every entry whose deadline is at or before `now`.
  std::vector<pending_forward> take_expired(steady_time now);
  // Removes every entry answering through `listen_fd` (a listener closing).
  size_t drop_listener(int listen_fd);
  std::optional<steady_time> next_deadline() const;
  size_t size() const noexcept { return entries_.size(); }

 private:
  struct slot {
    pending_forward p;
    std::multimap<steady_time, uint16_t>::iterator by_deadline;
  };
  size_t limit_;
  id_source ids_;
  std::unordered_map<uint16_t, slot> entries_;
  std::multimap<steady_time, uint16_t> deadlines_;
};

}  // namespace overlayd::net::dns
