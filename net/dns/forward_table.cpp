#include "net/dns/forward_table.hpp"

#include <sys/random.h>

#include <array>
#include <memory>

namespace overlayd::net::dns {

namespace {
// Random ids from getrandom(2), fetched in batches to keep syscalls rare.
forward_table::id_source random_ids() {
  struct pool {
    std::array<uint16_t, 256> ids{};
    size_t next = 256;
  };
  auto p = std::make_shared<pool>();
  return [p]() -> uint16_t {
    if (p->next == p->ids.size()) {
      ssize_t n = getrandom(p->ids.data(), sizeof p->ids, 0);
      if (n != static_cast<ssize_t>(sizeof p->ids)) {
        // Never expected for 512 bytes; still vary the ids rather than repeat.
        for (size_t i = 0; i < p->ids.size(); ++i)
          p->ids[i] = static_cast<uint16_t>(p->ids[i] * 31421u + 6927u + i);
      }
      p->next = 0;
    }
    return p->ids[p->next++];
  };
}
}  // namespace

forward_table::forward_table(size_t limit, id_source ids)
    : limit_(limit), ids_(ids ? std::move(ids) : random_ids()) {}

result<uint16_t> forward_table::insert(pending_forward p) {
  if (entries_.size() >= limit_ || entries_.size() >= 0xFFFF)
    return error(errc::exhausted, "DNS forwarding: " + std::to_string(limit_) +
                                      " queries already wait for an upstream");
  uint16_t id = ids_();
  // Bounded probing: the table is at most ~6% of the id space by default.
  for (size_t tries = 0; entries_.count(id); ++tries) {
    id = tries < 64 ? ids_() : static_cast<uint16_t>(id + 1);
  }
  auto it = deadlines_.emplace(p.deadline, id);
  entries_.emplace(id, slot{std::move(p), it});
  return id;
}

const pending_forward* forward_table::find(uint16_t id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second.p;
}

std::optional<pending_forward> forward_table::take(uint16_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  deadlines_.erase(it->second.by_deadline);
  pending_forward p = std::move(it->second.p);
  entries_.erase(it);
  return p;
}

std::vector<pending_forward> forward_table::take_expired(steady_time now) {
  std::vector<pending_forward> out;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    auto id = deadlines_.begin()->second;
    out.push_back(*take(id));
  }
  return out;
}

size_t forward_table::drop_listener(int listen_fd) {
  std::vector<uint16_t> ids;
  for (const auto& [id, s] : entries_)
    if (s.p.listen_fd == listen_fd) ids.push_back(id);
  for (auto id : ids) (void)take(id);
  return ids.size();
}

std::optional<steady_time> forward_table::next_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

}  // namespace overlayd::net::dns
