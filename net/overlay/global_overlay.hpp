// The node's global (cluster) overlay: one WireGuard device of ours named
// make_interface_name({deployment, instance_id}, "g"), addressed <node_ip> with
// the cluster's prefix, plus the host changes that let overlay traffic through a
// restrictive host (cluster accept rules, egress masquerade, networkd /
// NetworkManager leaving zl-* alone). Plain class: the supervisor actor owns
// one and serialises every call.
//
// Host changes go through host::mutator, so they are journaled and reverted
// by the mutator's revert_all() on teardown or after a crash. The device is
// not journaled: its TUN vanishes with the process.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "crypto/keys.hpp"
#include "net/host/mutator.hpp"
#include "net/ip.hpp"
#include "net/wg/device.hpp"

namespace overlayd::overlay {

struct global_spec {
  std::string deployment;
  std::string instance_id;
  net::cidr cluster;
  net::ip_address node_ip;
  uint16_t wg_port = 0;
  std::string uapi_dir;
  bool rootless = false;  // ZLAYER_ROOTLESS: no firewall rules, no drop-ins
  bool pin_threads = true;  // wg::device_options::pin_io_threads
  uint32_t mtu = 0;         // wg::device_options::mtu (0 = the underlay's)
  std::optional<crypto::private_key> private_key;  // reuse; generated when absent
};

// A peer as the engine configures it (parsed from the IPC PeerSpec).
struct peer_config {
  crypto::public_key key;
  net::endpoint endpoint;
  std::vector<net::cidr> allowed_ips;
  uint16_t persistent_keepalive = 0;  // seconds, 0 = off
};

class global_overlay {
 public:
  static result<std::unique_ptr<global_overlay>> bring_up(const global_spec& spec,
                                                          host::mutator& host);

  const std::string& interface() const noexcept { return interface_; }
  const net::ip_address& node_ip() const noexcept { return node_ip_; }
  const net::cidr& cluster() const noexcept { return cluster_; }
  std::string public_key_base64() const;
  wg::device& device() noexcept { return *device_; }
  const wg::device& device() const noexcept { return *device_; }

  // add_peer: create or update in place; allowed-ips are replaced by the
  // spec's list (the agent sends the whole set).
  status upsert_peer(const peer_config& p);
  status remove_peer(const crypto::public_key& k);
  status add_allowed_ip(const crypto::public_key& k, const net::cidr& c);
  status remove_allowed_ip(const crypto::public_key& k, const net::cidr& c);

 private:
  global_overlay() = default;
  std::string interface_;
  net::ip_address node_ip_;
  net::cidr cluster_;
  std::unique_ptr<wg::device> device_;
};

// What a device routes to its peers (every peer's AllowedIPs, normalized).
std::vector<net::cidr> routed_cidrs(const wg::device& dev);

// The CIDRs of `cidrs` that another peer than `key` holds exactly: adding
// them to `key` moves them (WireGuard's rule: the last writer owns a CIDR).
std::vector<std::pair<net::cidr, crypto::public_key>> cidr_moves(const wg::device& dev,
                                                                 const crypto::public_key& key,
                                                                 const std::vector<net::cidr>& cidrs);

// Parses an IPC peer (already validated at the edge) into a peer_config.
result<peer_config> parse_peer(std::string_view public_key, std::string_view endpoint,
                               std::string_view allowed_ips, uint64_t keepalive_secs);

}  // namespace overlayd::overlay
