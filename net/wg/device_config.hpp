// Domain structs of the device's control plane: what a caller asks the device
// to change (`device_update`, the same shape as a UAPI "set=1" request) and
// what the device reports (`device_status`, the shape of a "get=1" reply).
// The UAPI codec, the Unix-socket server and the actors all speak these.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crypto/keys.hpp"
#include "crypto/secret.hpp"
#include "net/ip.hpp"

namespace overlayd::wg {

using crypto::public_key;
// Private and preshared keys: 32 secret bytes, wiped when destroyed; all-zero
// means "none" in the UAPI (removes the key).
using secret_key = crypto::secret<32>;

// Limits on what a caller can grow (checked when a change is applied).
inline constexpr size_t max_peers = 16384;
inline constexpr size_t max_allowed_ips_per_peer = 1024;
inline constexpr size_t max_alias_addresses = 256;

// One peer's change. Unset optionals leave the field as it is.
struct peer_update {
  public_key key{};
  bool remove = false;       // delete the peer (other fields ignored)
  bool update_only = false;  // only touch an existing peer; never create one
  std::optional<secret_key> preshared_key;  // all-zero = no PSK
  std::optional<net::endpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive;  // seconds; 0 = off
  bool replace_allowed_ips = false;              // drop existing before adding
  std::vector<net::cidr> allowed_ips;                 // added (after the replace)
  std::vector<net::cidr> remove_allowed_ips;          // control API only (no UAPI key)
};

// A device change, applied atomically with respect to the packet path.
struct device_update {
  std::optional<secret_key> private_key;  // all-zero = remove
  std::optional<uint16_t> listen_port;    // 0 = random port
  std::optional<uint32_t> fwmark;         // 0 = none
  bool replace_peers = false;             // drop every peer first
  std::vector<peer_update> peers;
};

struct peer_status {
  public_key key{};
  bool has_preshared_key = false;
  secret_key preshared_key;  // reported by UAPI get, as wireguard-go does
  std::optional<net::endpoint> endpoint;
  std::vector<net::cidr> allowed_ips;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  // Absolute Unix time of the last completed handshake; nullopt = never.
  std::optional<std::chrono::system_clock::time_point> last_handshake;
  uint16_t persistent_keepalive = 0;
};

struct device_status {
  std::optional<secret_key> private_key;
  public_key own_public_key{};
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<peer_status> peers;
};

}  // namespace overlayd::wg
