// IP address management: the pools the allocator actor owns. Plain classes,
// single-threaded (the allocator actor serialises access).
//
//  - ip_allocator: one CIDR (a node slice or a bridge subnet). Offset 1, the
//    first usable host, is the node's (or gateway's) own address and is never
//    handed out; released addresses are reused first (LIFO, as the seed);
//    running past the end, or onto the IPv4 broadcast, is exhaustion.
//  - subnet_registry: carves /26 (v4) or /120 (v6) slices out of the cluster
//    CIDR, one per (service, node) key, idempotent per key. The slot is the
//    cluster-wide function every node and the agent compute alike (FNV-1a of
//    the key, then linear probing), so nodes do not collide; it never
//    overlaps a reserved address (the node IP: DNS listens there), the
//    node's own slice, or a CIDR routed to a peer.
//  - port_band: dedicated WireGuard ports, lowest free in base+1 ..= base+256.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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
  // Takes `ip` out of the free addresses, as if allocate() had returned it:
  // a restarted daemon re-holds the addresses its containers still carry.
  // Fails (already_exists) when it is handed out, or (invalid_argument) when
  // it is outside the range, the node IP, the v4 broadcast, or more than
  // max_reserve_gap addresses past the ones handed out so far.
  status reserve(const ip_address& ip);
  static constexpr uint64_t max_reserve_gap = 1u << 16;
  bool contains(const ip_address& ip) const noexcept { return range_.contains(ip); }
  // Addresses currently handed out (for status and tests).
  size_t in_use() const noexcept;

 private:
  cidr range_;
  uint64_t next_offset_ = 2;  // offset 1 is the node's
  uint64_t capacity_ = 0;     // number of offsets available (saturated for big v6)
  std::vector<ip_address> released_;
};

// One slot the registry passed over while probing, and why (the allocator
// logs each one: an operator should see why a service did not get its
// natural slot).
struct subnet_skip {
  cidr slot;           // the slot, or the first slot of a skipped run
  uint64_t count = 1;  // slots skipped in this run (saturated)
  std::string reason;
};

class subnet_registry {
 public:
  static constexpr unsigned v4_slice_prefix = 26;
  static constexpr unsigned v6_slice_prefix = 120;
  // Upper bound on live assignments (a user-growable collection).
  static constexpr size_t max_assignments = 65536;
  // FNV-1a, 64 bit (offset basis and prime as published by Fowler, Noll, Vo).
  static constexpr uint64_t fnv_offset_basis = 0xcbf29ce484222325ULL;
  static constexpr uint64_t fnv_prime = 0x100000001b3ULL;
  // Separates the service name from the node key in the hashed bytes.
  static constexpr uint8_t key_separator = 0x1f;

  using slot_index = unsigned __int128;

  // Fails when the cluster CIDR is narrower than one slice.
  static result<subnet_registry> create(cidr cluster);

  // The cluster's assignment rule, shared with the agent (upstream ZLayer's
  // ServiceSubnetRegistry): FNV-1a-64 over service bytes, 0x1f, node bytes.
  static uint64_t key_hash(std::string_view service, std::string_view node) noexcept;

  const cidr& cluster() const noexcept { return cluster_; }
  unsigned slice_prefix() const noexcept { return slice_prefix_; }
  // Number of slots in the cluster: 2^(slice_prefix - cluster prefix).
  slot_index slot_count() const noexcept { return slot_count_; }
  // The slot probing starts at: key_hash mod slot_count.
  slot_index start_slot(std::string_view service, std::string_view node) const noexcept;
  cidr slot(slot_index index) const;

  // Reserve an address: no slice containing it is ever assigned.
  void reserve_ip(const ip_address& ip);
  // Same key → same subnet. Otherwise linear probing from start_slot to the
  // first slot that is free, holds no reserved address and overlaps none of
  // `avoid` (the node's own slice, CIDRs routed to peers). Every slot passed
  // over for a reason other than "another key has it" is reported in `skips`.
  result<cidr> assign(const std::string& service, const std::string& node,
                      const std::vector<cidr>& avoid = {}, std::vector<subnet_skip>* skips = nullptr);
  // Re-binds a persisted assignment. Fails when `subnet` is not a slot of
  // this cluster or another key already holds it.
  status restore(const std::string& service, const std::string& node, const cidr& subnet);
  // Returns whether the key had an assignment.
  bool release(const std::string& service, const std::string& node);
  std::optional<cidr> lookup(const std::string& service, const std::string& node) const;
  const std::map<std::pair<std::string, std::string>, cidr>& assignments() const noexcept {
    return by_key_;
  }

 private:
  subnet_registry(cidr cluster, unsigned slice_prefix);
  bool reserved(const cidr& slice) const;
  slot_index index_of(const ip_address& ip) const;  // ip inside the cluster

  cidr cluster_;
  unsigned slice_prefix_;
  slot_index slot_count_;
  std::vector<ip_address> reserved_;
  std::map<std::pair<std::string, std::string>, cidr> by_key_;
  std::map<std::pair<std::string, std::string>, slot_index> index_by_key_;
  std::set<slot_index> used_;
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

  // The registry's assignment for (key, node), avoiding the node's own slice
  // (when it is narrower than the cluster) and every CIDR routed to a peer.
  // Skipped slots are appended to `skips` (the caller logs them).
  result<cidr> assign_subnet(const std::string& key, const std::string& node,
                             std::vector<subnet_skip>* skips = nullptr);
  void release_subnet(const std::string& key, const std::string& node);
  // A persisted assignment, re-bound after a restart (see restore()).
  status restore_subnet(const std::string& key, const std::string& node, const cidr& subnet);

  // CIDRs a device of this node routes to its peers, per owner (the global
  // device, each dedicated device); replaced whole on every change.
  void set_routed(const std::string& owner, std::vector<cidr> routed);
  std::vector<cidr> routed() const;
  // Why `c` must not be routed to a peer: it equals or contains one of this
  // node's service subnets (any key whose node is `node`) or the node's own
  // slice. A CIDR strictly inside one of them (a guest's /32) is fine.
  std::optional<std::string> route_conflict(const cidr& c, const std::string& node) const;
  // Whether the node slice is a true slice of the cluster (narrower), and so
  // kept out of the service-subnet registry.
  bool slice_is_own() const noexcept;

  // A bridge pool named `pool` (the bridge name) over `subnet`; idempotent.
  void open_pool(const std::string& pool, cidr subnet);
  void close_pool(const std::string& pool);
  // allocate(service) uses this pool from now on.
  void bind(const std::string& service, const std::string& pool);
  void unbind(const std::string& service);
  std::optional<std::string> pool_of(const std::string& service) const;
  // The range allocate(service) draws from: its bridge pool, else the slice.
  cidr range_for(const std::string& service) const;
  // Each service bound to a bridge pool: the pool (bridge) name, its range
  // and how many addresses it has handed out.
  struct binding {
    std::string service, pool;
    cidr range;
    size_t in_use = 0;
  };
  std::vector<binding> bindings() const;

  result<ip_address> allocate(const std::string& service);
  result<ip_address> allocate_from_slice() { return slice_.allocate(); }
  // Returns the address to whichever pool contains it (bridge pools first).
  void release(const ip_address& ip);
  // Holds `ip` in whichever pool contains it (bridge pools first, then the
  // slice); see ip_allocator::reserve.
  status reserve(const ip_address& ip);

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
  std::map<std::string, std::vector<cidr>> routed_;  // owner -> CIDRs routed to its peers
};

}  // namespace overlayd::net
