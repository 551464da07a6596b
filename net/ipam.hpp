// IP address management: the pools the allocator actor owns. Plain classes,
// single-threaded (the allocator actor serialises access).
//
//  - ip_allocator: one CIDR (a node slice or a bridge subnet). Offset 1, the
//    first usable host, is the node's (or gateway's) own address and is never
//    handed out; released addresses are reused first (LIFO, as the seed);
//    running past the end, or onto the IPv4 broadcast, is exhaustion.
//  - subnet_registry: carves /26 (v4) or /120 (v6) slices out of the cluster
//    CIDR, one per (service, node) key, lowest free first, idempotent per key,
//    never overlapping a reserved address (the node IP: DNS listens there).
//  - port_band: dedicated WireGuard ports, lowest free in base+1 ..= base+256.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::net {

class ip_allocator {
 public:
  explicit ip_allocator(cidr range);

  const cidr& range() const noexcept { return range_; }
  // The first usable host: reserved for the node / bridge gateway.
  ip_address node_ip() const noexcept { return range_.network().plus(1); }
  result<ip_address> allocate();
  // Idempotent; the reserved node IP and foreign addresses are ignored.
  void release(const ip_address& ip);
  bool contains(const ip_address& ip) const noexcept { return range_.contains(ip); }
  // Addresses currently handed out (for status and tests).
  size_t in_use() const noexcept;

 private:
  cidr range_;
  uint64_t next_offset_ = 2;  // offset 1 is the node's
  uint64_t capacity_ = 0;     // number of offsets available (saturated for big v6)
  std::vector<ip_address> released_;
};

class subnet_registry {
 public:
  static constexpr unsigned v4_slice_prefix = 26;
  static constexpr unsigned v6_slice_prefix = 120;
  // Upper bound on live assignments (a user-growable collection).
  static constexpr size_t max_assignments = 65536;

  // Fails when the cluster CIDR is narrower than one slice.
  static result<subnet_registry> create(cidr cluster);

  const cidr& cluster() const noexcept { return cluster_; }
  unsigned slice_prefix() const noexcept { return slice_prefix_; }
  // Reserve an address: no slice containing it is ever assigned.
  void reserve_ip(const ip_address& ip);
  // Same key → same subnet; otherwise the lowest free slice.
  result<cidr> assign(const std::string& service, const std::string& node);
  // Returns whether the key had an assignment.
  bool release(const std::string& service, const std::string& node);
  std::optional<cidr> lookup(const std::string& service, const std::string& node) const;
  const std::map<std::pair<std::string, std::string>, cidr>& assignments() const noexcept {
    return by_key_;
  }

 private:
  subnet_registry(cidr cluster, unsigned slice_prefix);
  cidr slice(uint64_t index) const;
  bool reserved(const cidr& slice) const;

  cidr cluster_;
  unsigned slice_prefix_;
  uint64_t slice_count_;  // saturated at 2^63 for huge v6 clusters
  std::vector<ip_address> reserved_;
  std::map<std::pair<std::string, std::string>, cidr> by_key_;
  std::map<std::pair<std::string, std::string>, uint64_t> index_by_key_;
  std::set<uint64_t> used_;
};

class port_band {
 public:
  static constexpr uint16_t width = 256;
  // `base` is the cluster WireGuard port; the band is base+1 ..= base+256
  // (clamped to 65535). `recorded` ports (from the marker) are reserved.
  explicit port_band(uint16_t base, const std::vector<uint16_t>& recorded = {});

  result<uint16_t> allocate();
  void reserve(uint16_t port);  // ports outside the band are remembered too
  void release(uint16_t port);
  bool in_use(uint16_t port) const { return used_.count(port) != 0; }

 private:
  uint16_t base_;
  std::set<uint16_t> used_;
};

}  // namespace overlayd::net

namespace overlayd::net {

// Every pool of one node, as the allocator actor owns them:
//  - the node slice (global-overlay addresses, eth1 of join_global attaches);
//  - the service-subnet registry (once the cluster CIDR is known);
//  - one pool per bridge (per-service bridges and the shared bridge), whose
//    first usable address is the bridge's gateway and never handed out.
// allocate(service) draws from the bridge pool the service is bound to, else
// from the node slice, exactly as the seed's allocate_ip.
class node_pools {
 public:
  explicit node_pools(cidr slice) : slice_(slice) {}

  // Re-binds the node slice (setup_global_overlay with a slice_cidr).
  void set_slice(cidr slice);
  const ip_allocator& slice() const noexcept { return slice_; }
  // Creates the registry on first use; reserves the node IP in it.
  status set_cluster(cidr cluster, ip_address node_ip);
  bool has_registry() const noexcept { return registry_.has_value(); }
  const subnet_registry* registry() const noexcept { return registry_ ? &*registry_ : nullptr; }

  result<cidr> assign_subnet(const std::string& key, const std::string& node);
  void release_subnet(const std::string& key, const std::string& node);

  // A bridge pool named `pool` (the bridge name) over `subnet`; idempotent.
  void open_pool(const std::string& pool, cidr subnet);
  void close_pool(const std::string& pool);
  // allocate(service) uses this pool from now on.
  void bind(const std::string& service, const std::string& pool);
  void unbind(const std::string& service);
  std::optional<std::string> pool_of(const std::string& service) const;
  // The range allocate(service) draws from: its bridge pool, else the slice.
  cidr range_for(const std::string& service) const;

  result<ip_address> allocate(const std::string& service);
  result<ip_address> allocate_from_slice() { return slice_.allocate(); }
  // Returns the address to whichever pool contains it (bridge pools first).
  void release(const ip_address& ip);

  // Dedicated-device ports: the band above `base` (the global wg_port),
  // created on first use. reserve() keeps a port recorded in the marker.
  result<uint16_t> allocate_port(uint16_t base);
  void reserve_port(uint16_t base, uint16_t port);
  void release_port(uint16_t port);

 private:
  port_band& ports(uint16_t base);
  std::optional<port_band> ports_;
  ip_allocator slice_;
  std::optional<subnet_registry> registry_;
  std::map<std::string, ip_allocator> pools_;        // bridge name -> pool
  std::map<std::string, std::string> service_pool_;  // service -> bridge name
};

}  // namespace overlayd::net
