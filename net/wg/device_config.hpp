// Domain structs of the device's control plane: what a caller asks the device
// to change (`device_update`, the same shape as a UAPI "set=1" request) and
// what the device reports (`device_status`, the shape of a "get=1" reply).
// The UAPI codec, the Unix-socket server and the actors all speak these.
#pragma once

#include <sodium.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/ip.hpp"

namespace overlayd::wg {

// A Curve25519 public key (not secret).
using public_key = std::array<uint8_t, 32>;

// 32 secret bytes (private key or preshared key), wiped when destroyed.
class secret_key {
 public:
  secret_key() = default;
  explicit secret_key(const std::array<uint8_t, 32>& b) : b_(b) {}
  secret_key(const secret_key& o) : b_(o.b_) {}
  secret_key& operator=(const secret_key& o) {
    b_ = o.b_;
    return *this;
  }
  ~secret_key() { sodium_memzero(b_.data(), b_.size()); }

  const std::array<uint8_t, 32>& bytes() const noexcept { return b_; }
  std::array<uint8_t, 32>& bytes() noexcept { return b_; }
  // All-zero means "none" in the UAPI (removes a private or preshared key).
  bool is_zero() const noexcept { return sodium_is_zero(b_.data(), b_.size()) == 1; }
  friend bool operator==(const secret_key& a, const secret_key& b) noexcept {
    return sodium_memcmp(a.b_.data(), b.b_.data(), 32) == 0;
  }

 private:
  std::array<uint8_t, 32> b_{};
};

// Limits on what a caller can grow (checked when a change is applied).
inline constexpr size_t max_peers = 4096;
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
