// The journal of host changes: every mutation overlayd makes to the host
// (a link, an address, a route, a sysctl, a file, firewall state) is
// appended here, with what is needed to undo it, and persisted atomically
// under the data dir before the call that made it returns. Teardown and
// crash recovery replay it in reverse (see mutator.hpp); nothing is ever
// swept by name prefix.
//
// Plain class: no netlink, no nft. The file is JSON:
//   {"version":1,"changes":[{"kind":"link","params":{"name":"zl-x-b"}}, ...]}
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace overlayd::host {

enum class change_kind {
  link,            // name: a link we created (delete on revert)
  address,         // dev, cidr
  route,           // dst, dev
  sysctl,          // key, prev: value before our first write
  file,            // path: a file we wrote
  nft_table,       // table: our nftables table
  nft_subnet,      // table, cidrs (comma list): accepts incl. iptables ones
  nft_masquerade,  // table
  nft_member,      // table, network, ip
};

std::string_view to_string(change_kind k) noexcept;
std::optional<change_kind> parse_change_kind(std::string_view s) noexcept;

struct change {
  change_kind kind = change_kind::link;
  std::map<std::string, std::string> params;

  std::string param(const std::string& key) const;
  // Two changes are "the same resource" when kind and every param but the
  // remembered previous value ("prev") match.
  bool same_resource(const change& other) const;
  std::string describe() const;  // "link name=zl-x-b"

  friend bool operator==(const change&, const change&) = default;
};

// Bound on journal entries: far above any real node (a few per container).
inline constexpr size_t max_journal_entries = 1u << 16;

std::string serialize(const std::vector<change>& changes);
// Strict: unknown kinds, non-string params or a wrong version are errors.
result<std::vector<change>> deserialize(std::string_view text);

class journal {
 public:
  // Loads `<data_dir>/host-journal.json` if present (creating the dir).
  static result<journal> open(const std::string& data_dir);

  const std::vector<change>& entries() const noexcept { return entries_; }
  bool empty() const noexcept { return entries_.empty(); }
  const std::string& path() const noexcept { return path_; }
  // The first entry for the same resource, if any.
  const change* find(const change& like) const;

  // Appends and persists. A change for a resource already recorded is not
  // added twice (the first record keeps the original "prev").
  status record(change c);
  // Removes every entry for the same resource and persists.
  status forget(const change& like);
  // Replaces all entries (recovery) and persists.
  status replace(std::vector<change> entries);

  // ---- adoption: a restarted daemon keeps what a previous run made ----
  // Every entry now on file becomes a leftover of a previous run, until
  // this run makes, confirms or forgets the same resource (record, claim,
  // forget). What is still unclaimed when the grace period ends is
  // reverted (host::mutator::revert_unclaimed). In memory only.
  void mark_unclaimed() { unclaimed_ = entries_; }
  void claim(const change& like);
  // Claims what is bound to device `dev`: the link, its addresses and
  // routes, its per-interface sysctls (net.ipv6.conf.<dev>.*).
  void claim_device(std::string_view dev);
  const std::vector<change>& unclaimed() const noexcept { return unclaimed_; }

  // Runs after every successful write of the file (the crash-point hook of
  // mutator.hpp; empty by default).
  void set_after_persist(std::function<void()> fn) { after_persist_ = std::move(fn); }

 private:
  explicit journal(std::string path) : path_(std::move(path)) {}
  status persist() const;

  std::string path_;
  std::vector<change> entries_;
  std::vector<change> unclaimed_;
  std::function<void()> after_persist_;
};

}  // namespace overlayd::host
