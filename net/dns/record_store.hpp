// The overlay's DNS records: name → addresses, and the reverse map for PTR.
//
// Writers (the dns actor registering and unregistering names) take a mutex,
// copy the table, change the copy and publish it; readers (the server's I/O
// threads, once per batch of queries) copy the pointer to the published
// immutable snapshot under a lock held for that copy only. Registrations are
// rare and queries frequent, so copy-on-write is the right trade, and a
// change is visible to the very next query. (Not std::atomic<shared_ptr>:
// GCC 12's unlocks a load with relaxed order, which ThreadSanitizer flags.)
//
// Names are stored as registered, case-folded, without a final dot. Whether
// a name was given fully qualified ("web.overlay." — trailing dot) or
// relative ("web") decides only what PTR answers with; lookup under the
// domain is the resolver's business (resolver.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "net/dns/limits.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

struct record_entry {
  std::string key;        // lower-case, no final dot: "web", "db.overlay"
  bool absolute = false;  // registered with a final dot
  std::vector<ip_address> addresses;
};

// One immutable version of the records.
class record_table {
 public:
  const record_entry* find(std::string_view key) const;
  // Keys of every name holding `ip` (for PTR), in registration order.
  std::span<const std::string> names_for(const ip_address& ip) const;
  // True if some registered name lies below `key` ("b" for "a.b"): an empty
  // non-terminal, which exists (NODATA) rather than not (NXDOMAIN), RFC 8020.
  bool has_descendants(std::string_view key) const;
  size_t size() const noexcept { return by_name_.size(); }
  uint32_t serial() const noexcept { return serial_; }  // bumps on every change
  std::vector<record_entry> entries() const;            // sorted by key

 private:
  friend class record_store;
  void rebuild_indexes();  // by_address_ and ancestors_ from by_name_

  std::unordered_map<std::string, record_entry> by_name_;
  std::unordered_map<ip_address, std::vector<std::string>> by_address_;
  std::unordered_set<std::string> ancestors_;  // proper suffixes of every key
  uint32_t serial_ = 1;
};

class record_store {
 public:
  explicit record_store(size_t max_names = limits::max_record_names);

  // Replaces the addresses of `name` with `ip` (the seed's register_dns).
  status set(std::string_view name, const ip_address& ip);
  // Adds `ip` to the addresses of `name` (no-op if present).
  status add(std::string_view name, const ip_address& ip);
  // Forgets `name`; false if it was not registered (the seed's unregister_dns).
  bool remove(std::string_view name);
  // Replaces everything at once (a records file reloaded); all or nothing.
  status replace_all(const std::vector<std::pair<std::string, ip_address>>& records);
  void clear();

  std::shared_ptr<const record_table> snapshot() const {
    std::lock_guard lock(snapshot_mu_);
    return current_;
  }

 private:
  status update(std::string_view name, const ip_address& ip, bool replace);
  void publish(std::shared_ptr<record_table> next);

  const size_t max_names_;
  std::mutex write_mu_;             // serializes writers: read-copy-publish
  mutable std::mutex snapshot_mu_;  // guards current_ (the pointer, not the table)
  std::shared_ptr<const record_table> current_;
};

// Checks a name for registration and returns its key and whether it was
// absolute. Labels of letters, digits, '-' and '_' (service names), 1..63
// octets each, 253 characters overall.
result<std::pair<std::string, bool>> record_key(std::string_view name);

}  // namespace overlayd::net::dns
