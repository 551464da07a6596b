// The network marker `<data_dir>/agent_network.json` (contract: "Marker
// file"): what the node made that must survive a restart, above all the
// identity (key, port, interface) of each dedicated per-service device, so a
// restarted daemon re-binds the same key and port and its peers keep working.
//
//   {"version":1,"networks":[{owner, kind, name, id, subnet,
//                             wg_port?, wg_private_key?, wg_public_key?, interface?}]}
//
// Lives in ipc/ because it is JSON (only ipc/ sees JSON); the engine uses the
// plain structs. Writes go through core/atomic_file.hpp (a crash leaves the
// old or the new file, never half of one). The daemon reads and writes it
// only through ipc/marker_store.hpp, which serialises read-modify-writes and
// moves a malformed file aside instead of overwriting it; `load` here is the
// plain reader (empty + `warning` when unreadable or malformed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace overlayd::ipc {

struct managed_network {
  std::string owner;  // "base", "service:<name>", "iso:<name>"
  std::string kind;   // "wg-dedicated" for dedicated devices
  std::string name;
  std::string id;
  std::string subnet;
  std::optional<uint16_t> wg_port;
  std::optional<std::string> wg_private_key;  // base64
  std::optional<std::string> wg_public_key;
  std::optional<std::string> interface;
  bool operator==(const managed_network&) const = default;
};

class network_marker {
 public:
  // Bounded: one entry per service at most, and services are bounded by the
  // subnet registry; this caps a hand-edited file.
  static constexpr size_t max_entries = 65536;

  static std::string path_in(const std::string& data_dir) { return data_dir + "/agent_network.json"; }
  static std::string owner_for_service(const std::string& s) { return "service:" + s; }

  // Missing file: empty, no warning. Unreadable/malformed: empty + warning.
  static network_marker load(const std::string& path, std::string* warning = nullptr);
  static network_marker parse(std::string_view text, std::string* warning = nullptr);
  std::string serialize() const;
  status save(const std::string& path) const;

  const managed_network* get(const std::string& owner) const;
  void upsert(managed_network n);  // replaces the entry with the same owner
  bool remove(const std::string& owner);
  const std::vector<managed_network>& networks() const noexcept { return networks_; }

 private:
  std::vector<managed_network> networks_;
};

}  // namespace overlayd::ipc
