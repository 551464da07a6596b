// The device's configuration as the packet path sees it: an immutable
// `snapshot` of identity, peers and allowed-ips, and the builder that turns a
// `device_update` into the next snapshot. The device publishes snapshots
// through an atomic_shared_ptr (core/atomic_shared_ptr.hpp), so I/O threads
// read them with one pointer copy, never waiting on the control API's mutex,
// and a control-API change is one pointer swap.
//
// Peers (`device_peer`) live across snapshots: a snapshot holds shared
// pointers to them, and their mutable run-time state (endpoint, byte
// counters, staged packets, the protocol state in peer_protocol) is
// internally synchronised. Configuration fields of a peer (PSK, keepalive)
// are written only by the builder, under the device's control lock.
//
// No sockets here: unit-tested directly (device_state.test.cpp).
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "crypto/keys.hpp"
#include "net/ip.hpp"
#include "net/wg/allowed_ips.hpp"
#include "net/wg/clock.hpp"
#include "net/wg/device_config.hpp"
#include "net/wg/index_table.hpp"
#include "net/wg/noise.hpp"
#include "net/wg/peer.hpp"

namespace overlayd::wg {

// Packets waiting for a session, per peer (wireguard-go keeps 1024, the
// kernel 128); the oldest is dropped beyond this.
inline constexpr size_t max_staged_packets = 128;
// Every allowed IP of every peer together.
inline constexpr size_t max_allowed_ips_total = 1u << 16;

class device_peer {
 public:
  device_peer(const public_key& key, std::shared_ptr<peer_protocol> proto)
      : key_(key), proto_(std::move(proto)) {}

  const public_key& key() const noexcept { return key_; }
  peer_protocol& proto() const noexcept { return *proto_; }

  // Endpoint: set by configuration and by roaming (the source of the latest
  // authenticated packet). `set_endpoint` is cheap when nothing changed.
  std::optional<net::endpoint> endpoint() const;
  void set_endpoint(const net::endpoint& ep);
  // Bumped on every change, so a sender can cache the sockaddr.
  uint64_t endpoint_version() const noexcept { return ep_version_.load(std::memory_order_acquire); }

  std::atomic<uint64_t> rx_bytes{0};
  std::atomic<uint64_t> tx_bytes{0};

  // Staged packets (plaintext, no header room). Bounded; oldest dropped.
  // Returns false if one had to be dropped.
  bool stage(std::span<const uint8_t> pkt);
  std::deque<std::vector<uint8_t>> take_staged();
  void drop_staged();

  // Configuration (written by the builder under the device control lock;
  // read by status under the same lock).
  secret_key preshared_key;
  uint16_t persistent_keepalive = 0;

 private:
  const public_key key_;
  const std::shared_ptr<peer_protocol> proto_;
  mutable std::mutex ep_mu_;  // guards ep_
  std::optional<net::endpoint> ep_;
  std::atomic<uint64_t> ep_version_{0};
  std::mutex staged_mu_;  // guards staged_
  std::deque<std::vector<uint8_t>> staged_;
};

struct snapshot {
  std::shared_ptr<const static_identity> identity;  // null: no private key yet
  std::vector<std::shared_ptr<device_peer>> peers;  // in order of creation
  std::unordered_map<public_key, std::shared_ptr<device_peer>> by_key;
  allowed_ips<device_peer*> routes{max_allowed_ips_total};
  uint32_t fwmark = 0;

  device_peer* find(const public_key& k) const noexcept {
    auto it = by_key.find(k);
    return it == by_key.end() ? nullptr : it->second.get();
  }
};

// What applying an update asks of the device beyond the new snapshot.
struct apply_effects {
  std::optional<uint16_t> listen_port;  // rebind the UDP socket
  std::optional<uint32_t> fwmark;       // set SO_MARK on the socket
  bool identity_changed = false;        // refresh the cookie checker
};

class snapshot_builder {
 public:
  snapshot_builder(index_table& indices, const clock& clk) : indices_(indices), clock_(clk) {}

  // Builds the snapshot after `u`. Everything is checked (limits, keys)
  // before any shared peer is touched, so an error leaves `cur` and its
  // peers exactly as they were.
  result<std::shared_ptr<const snapshot>> apply(const snapshot& cur, const device_update& u,
                                                apply_effects& fx);

 private:
  index_table& indices_;
  const clock& clock_;
};

}  // namespace overlayd::wg
