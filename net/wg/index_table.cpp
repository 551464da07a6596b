#include "net/wg/index_table.hpp"

#include <mutex>

#include "crypto/secret.hpp"

namespace overlayd::wg {

result<uint32_t> index_table::insert(const std::weak_ptr<peer_protocol>& peer, index_kind kind) {
  std::unique_lock lock(mu_);
  if (map_.size() >= limit_) return error(errc::exhausted, "index table full");
  // Random indices; collisions are rare while the table is far below 2^32.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const uint32_t idx = crypto::random_u32();
    if (idx == 0 || map_.count(idx) != 0) continue;
    map_.emplace(idx, slot{peer, kind});
    return idx;
  }
  return error(errc::exhausted, "index table: no free index found");
}

bool index_table::replace(uint32_t index, index_kind kind) {
  std::unique_lock lock(mu_);
  auto it = map_.find(index);
  if (it == map_.end()) return false;
  it->second.kind = kind;
  return true;
}

void index_table::remove(uint32_t index) {
  std::unique_lock lock(mu_);
  map_.erase(index);
}

std::optional<index_entry> index_table::lookup(uint32_t index) const {
  std::shared_lock lock(mu_);
  auto it = map_.find(index);
  if (it == map_.end()) return std::nullopt;
  auto p = it->second.peer.lock();
  if (!p) return std::nullopt;
  return index_entry{std::move(p), it->second.kind};
}

size_t index_table::size() const {
  std::shared_lock lock(mu_);
  return map_.size();
}

}  // namespace overlayd::wg
