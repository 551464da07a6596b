// net/wg/index_table.hpp — the device's map from our 32-bit receiver indices
// to (peer, handshake|keypair). Indices are random (never 0), unique, and
// limited in number (errc::exhausted at the limit).
//
//   insert(peer, kind) -> index      register a fresh random index
//   replace(index, kind)             the handshake's index becomes the keypair's
//   remove(index)
//   lookup(index) -> {shared_ptr<peer_protocol>, kind} or nullopt
//       (weak references: a removed peer's indices simply stop resolving)
// Thread-safe (shared_mutex: lookups from every I/O thread run in parallel).
// Namespace overlayd::wg.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <unordered_map>

#include "core/error.hpp"
#include "net/wg/constants.hpp"

namespace overlayd::wg {

class peer_protocol;

enum class index_kind : uint8_t { handshake, keypair };

struct index_entry {
  std::shared_ptr<peer_protocol> peer;
  index_kind kind = index_kind::handshake;
};

class index_table {
 public:
  explicit index_table(size_t limit = max_index_entries) : limit_(limit) {}
  result<uint32_t> insert(const std::weak_ptr<peer_protocol>& peer, index_kind kind);
  bool replace(uint32_t index, index_kind kind);
  void remove(uint32_t index);
  std::optional<index_entry> lookup(uint32_t index) const;
  size_t size() const;

 private:
  struct slot {
    std::weak_ptr<peer_protocol> peer;
    index_kind kind;
  };
  mutable std::shared_mutex mu_;  // guards map_
  std::unordered_map<uint32_t, slot> map_;
  size_t limit_;
};

}  // namespace overlayd::wg
