#include "net/ipam.hpp"

#include <algorithm>

namespace overlayd::net {

namespace {
// 2^bits, saturated so it fits a u64 (v6 host spaces are astronomically big).
uint64_t pow2_saturated(unsigned bits) { return bits >= 63 ? (uint64_t{1} << 63) : (uint64_t{1} << bits); }
}  // namespace

ip_allocator::ip_allocator(cidr range)
    : range_(range.normalized()),
      capacity_(pow2_saturated(range.address().bits() - range.prefix_len())) {}

result<ip_address> ip_allocator::allocate() {
  if (!released_.empty()) {
    ip_address ip = released_.back();
    released_.pop_back();
    return ip;
  }
  const uint64_t offset = next_offset_;
  ip_address addr = range_.network().plus(offset);
  const bool past_end = offset >= capacity_;
  const bool v4_broadcast = addr.is_v4() && addr == range_.broadcast();
  if (past_end || v4_broadcast) {
    return error(errc::exhausted, "IP allocator exhausted: next address " + addr.to_string() +
                                      " is outside slice " + range_.to_string());
  }
  ++next_offset_;
  return addr;
}

void ip_allocator::release(const ip_address& ip) {
  if (ip == node_ip() || !range_.contains(ip)) return;
  if (std::find(released_.begin(), released_.end(), ip) == released_.end()) released_.push_back(ip);
}

status ip_allocator::reserve(const ip_address& ip) {
  if (!range_.contains(ip) || ip == node_ip() || ip == range_.network() ||
      (ip.is_v4() && ip == range_.broadcast()))
    return error(errc::invalid_argument, ip.to_string() + " is not a host address of pool " + range_.to_string());
  // The offset of ip in the range (it is inside: the difference fits in the
  // host bits; a gap past max_reserve_gap is refused before it matters).
  uint64_t offset = 0;
  {
    const ip_address network = range_.network();  // a copy: data() points into it
    const auto* a = ip.data();
    const auto* n = network.data();
    int borrow = 0;
    uint64_t v = 0;
    bool big = false;
    for (size_t i = ip.size(); i-- > 0;) {
      int d = int(a[i]) - int(n[i]) - borrow;
      borrow = d < 0;
      if (d < 0) d += 256;
      const size_t shift = (ip.size() - 1 - i) * 8;
      if (shift < 64) v |= uint64_t(d) << shift;
      else if (d) big = true;
    }
    if (big) return error(errc::invalid_argument, ip.to_string() + " is too far into pool " + range_.to_string());
    offset = v;
  }
  if (offset < next_offset_) {
    auto it = std::find(released_.begin(), released_.end(), ip);
    if (it == released_.end())
      return error(errc::already_exists, ip.to_string() + " is already handed out in pool " + range_.to_string());
    released_.erase(it);
    return {};
  }
  if (offset - next_offset_ > max_reserve_gap)
    return error(errc::invalid_argument, ip.to_string() + " is too far past the addresses handed out in pool " +
                                             range_.to_string() + " (offset " + std::to_string(offset) +
                                             ", next free " + std::to_string(next_offset_) + ")");
  // Everything skipped over stays free.
  for (uint64_t o = next_offset_; o < offset; ++o) released_.push_back(range_.network().plus(o));
  next_offset_ = offset + 1;
  return {};
}

size_t ip_allocator::in_use() const noexcept {
  return static_cast<size_t>(next_offset_ - 2) - released_.size();
}

namespace {
using slot_index = subnet_registry::slot_index;

// The address as a 128-bit number (v4 in the low 32 bits).
slot_index to_u128(const ip_address& ip) {
  slot_index v = 0;
  for (size_t i = 0; i < ip.size(); ++i) v = (v << 8) | ip.data()[i];
  return v;
}

uint64_t saturate(slot_index v) { return v > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(v); }
}  // namespace

subnet_registry::subnet_registry(cidr cluster, unsigned slice_prefix)
    : cluster_(cluster.normalized()),
      slice_prefix_(slice_prefix),
      slot_count_(slot_index{1} << (slice_prefix - cluster.prefix_len())) {}

result<subnet_registry> subnet_registry::create(cidr cluster) {
  const unsigned prefix = cluster.address().is_v4() ? v4_slice_prefix : v6_slice_prefix;
  if (cluster.prefix_len() > prefix) {
    return error(errc::invalid_argument, "cluster CIDR " + cluster.to_string() +
                                             " is smaller than one /" + std::to_string(prefix) +
                                             " service subnet");
  }
  return subnet_registry(cluster, prefix);
}

uint64_t subnet_registry::key_hash(std::string_view service, std::string_view node) noexcept {
  uint64_t h = fnv_offset_basis;
  auto mix = [&h](uint8_t byte) {
    h ^= byte;
    h *= fnv_prime;  // wraps mod 2^64
  };
  for (char c : service) mix(static_cast<uint8_t>(c));
  mix(key_separator);
  for (char c : node) mix(static_cast<uint8_t>(c));
  return h;
}

slot_index subnet_registry::start_slot(std::string_view service, std::string_view node) const noexcept {
  return slot_index{key_hash(service, node)} % slot_count_;
}

cidr subnet_registry::slot(slot_index index) const {
  const unsigned host_bits = cluster_.address().bits() - slice_prefix_;
  return cidr(cluster_.network().plus_wide(index << host_bits), slice_prefix_);
}

subnet_registry::slot_index subnet_registry::index_of(const ip_address& ip) const {
  const unsigned host_bits = cluster_.address().bits() - slice_prefix_;
  return (to_u128(ip) - to_u128(cluster_.network())) >> host_bits;
}

bool subnet_registry::reserved(const cidr& s) const {
  return std::any_of(reserved_.begin(), reserved_.end(),
                     [&](const ip_address& ip) { return s.contains(ip); });
}

void subnet_registry::reserve_ip(const ip_address& ip) {
  if (std::find(reserved_.begin(), reserved_.end(), ip) == reserved_.end()) reserved_.push_back(ip);
}

result<cidr> subnet_registry::assign(const std::string& service, const std::string& node,
                                     const std::vector<cidr>& avoid, std::vector<subnet_skip>* skips) {
  auto key = std::make_pair(service, node);
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  if (by_key_.size() >= max_assignments) {
    return error(errc::exhausted, "service subnet registry full (" +
                                      std::to_string(max_assignments) + " assignments)");
  }
  auto note = [&](slot_index at, slot_index count, std::string why) {
    if (skips) skips->push_back({slot(at), saturate(count), std::move(why)});
  };
  // Linear probing: (start + i) mod n. A CIDR to avoid that is wider than a
  // slot is stepped over in one jump to the slot after its end: the same
  // slot that one-by-one probing would reach, in bounded time even for a
  // v6 slice of 2^56 slots.
  slot_index at = start_slot(service, node);
  slot_index passed = 0;  // slots probed so far; n of them means none is free
  while (passed < slot_count_) {
    const cidr candidate = slot(at);
    slot_index step = 1;
    if (used_.count(at)) {
      // Another key holds it: plain probing, not worth a log line.
    } else if (reserved(candidate)) {
      note(at, 1, "holds a reserved address (the node IP)");
    } else if (auto hit = std::find_if(avoid.begin(), avoid.end(),
                                       [&](const cidr& c) { return c.overlaps(candidate); });
               hit != avoid.end()) {
      if (hit->contains(cluster_))
        return error(errc::exhausted, "no service subnet in cluster " + cluster_.to_string() + ": all of it overlaps " +
                                          hit->to_string());
      if (hit->prefix_len() < slice_prefix_) {
        // Jump to the first slot after the avoided CIDR (or wrap at the end).
        const ip_address last = hit->broadcast();
        const slot_index end = cluster_.contains(last) ? index_of(last) + 1 : slot_count_;
        step = end > at ? end - at : 1;
      }
      note(at, step, "overlaps " + hit->to_string());
    } else {
      used_.insert(at);
      index_by_key_.emplace(key, at);
      by_key_.emplace(std::move(key), candidate);
      return candidate;
    }
    passed += step;
    at = (at + step) % slot_count_;
  }
  return error(errc::exhausted, "cluster CIDR " + cluster_.to_string() + " has no free /" +
                                    std::to_string(slice_prefix_) + " service subnet");
}

status subnet_registry::restore(const std::string& service, const std::string& node, const cidr& subnet) {
  const cidr s = subnet.normalized();
  if (s.fam() != cluster_.fam() || s.prefix_len() != slice_prefix_ || !cluster_.contains(s))
    return error(errc::invalid_argument,
                 subnet.to_string() + " is not a /" + std::to_string(slice_prefix_) + " slot of " + cluster_.to_string());
  const slot_index at = index_of(s.network());
  auto key = std::make_pair(service, node);
  if (auto it = index_by_key_.find(key); it != index_by_key_.end()) {
    if (it->second == at) return {};
    return error(errc::already_exists, service + "@" + node + " already holds " + by_key_.at(key).to_string());
  }
  if (used_.count(at)) return error(errc::already_exists, s.to_string() + " is held by another service");
  used_.insert(at);
  index_by_key_.emplace(key, at);
  by_key_.emplace(std::move(key), s);
  return {};
}

bool subnet_registry::release(const std::string& service, const std::string& node) {
  auto key = std::make_pair(service, node);
  auto it = index_by_key_.find(key);
  if (it == index_by_key_.end()) return false;
  used_.erase(it->second);
  index_by_key_.erase(it);
  by_key_.erase(key);
  return true;
}

std::optional<cidr> subnet_registry::lookup(const std::string& service,
                                            const std::string& node) const {
  auto it = by_key_.find({service, node});
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

port_band::port_band(uint16_t base, const std::vector<uint16_t>& recorded) : base_(base) {
  for (uint16_t p : recorded) used_.insert(p);
}

result<uint16_t> port_band::allocate() {
  const uint32_t last = std::min<uint32_t>(uint32_t{base_} + width, 65535);
  for (uint32_t p = uint32_t{base_} + 1; p <= last; ++p) {
    if (!used_.count(static_cast<uint16_t>(p))) {
      used_.insert(static_cast<uint16_t>(p));
      return static_cast<uint16_t>(p);
    }
  }
  return error(errc::exhausted, "dedicated-overlay port band exhausted: all ports " +
                                    std::to_string(base_ + 1) + ".." + std::to_string(last) +
                                    " are in use");
}

void port_band::reserve(uint16_t port) { used_.insert(port); }
void port_band::release(uint16_t port) { used_.erase(port); }

}  // namespace overlayd::net

namespace overlayd::net {

void node_pools::set_slice(cidr slice) {
  if (slice.normalized() != slice_.range()) slice_ = ip_allocator(slice);
}

status node_pools::set_cluster(cidr cluster, ip_address node_ip) {
  // A registry made for another cluster (the default one, before any
  // setup_global_overlay) is replaced while nothing was assigned from it;
  // otherwise those subnets stay where they are, on their bridges.
  if (registry_ && registry_->cluster() != cluster.normalized() && registry_->assignments().empty())
    registry_.reset();
  if (!registry_) {
    auto r = subnet_registry::create(cluster);
    if (!r) return std::move(r).err();
    registry_.emplace(std::move(r).value());
  }
  registry_->reserve_ip(node_ip);
  return {};
}

bool node_pools::slice_is_own() const noexcept {
  if (!registry_) return false;
  const cidr& cl = registry_->cluster();
  const cidr& sl = slice_.range();
  return sl.fam() == cl.fam() && sl.prefix_len() > cl.prefix_len();
}

result<cidr> node_pools::assign_subnet(const std::string& key, const std::string& node,
                                       std::vector<subnet_skip>* skips) {
  if (!registry_)
    return error(errc::precondition,
                 "service subnet registry needs a cluster CIDR (SetupGlobalOverlay first)");
  std::vector<cidr> avoid = routed();
  if (slice_is_own()) avoid.push_back(slice_.range());
  return registry_->assign(key, node, avoid, skips);
}

void node_pools::release_subnet(const std::string& key, const std::string& node) {
  if (registry_) registry_->release(key, node);
}

status node_pools::restore_subnet(const std::string& key, const std::string& node, const cidr& subnet) {
  if (!registry_) return error(errc::precondition, "no service subnet registry yet");
  return registry_->restore(key, node, subnet);
}

void node_pools::set_routed(const std::string& owner, std::vector<cidr> routed) {
  if (routed.empty()) routed_.erase(owner);
  else routed_[owner] = std::move(routed);
}

std::vector<cidr> node_pools::routed() const {
  std::vector<cidr> out;
  for (const auto& [owner, cs] : routed_) out.insert(out.end(), cs.begin(), cs.end());
  return out;
}

std::optional<std::string> node_pools::route_conflict(const cidr& c, const std::string& node) const {
  const cidr n = c.normalized();
  if (registry_)
    for (const auto& [key, subnet] : registry_->assignments())
      if (key.second == node && n.contains(subnet))
        return n.to_string() + " covers service " + key.first + "'s local subnet " + subnet.to_string();
  if (slice_is_own() && n.contains(slice_.range()))
    return n.to_string() + " covers this node's own slice " + slice_.range().to_string();
  return std::nullopt;
}

void node_pools::open_pool(const std::string& pool, cidr subnet) {
  if (!pools_.count(pool)) pools_.emplace(pool, ip_allocator(subnet));
}

void node_pools::close_pool(const std::string& pool) {
  pools_.erase(pool);
  for (auto it = service_pool_.begin(); it != service_pool_.end();)
    it = it->second == pool ? service_pool_.erase(it) : std::next(it);
}

void node_pools::bind(const std::string& service, const std::string& pool) {
  service_pool_[service] = pool;
}

void node_pools::unbind(const std::string& service) { service_pool_.erase(service); }

std::optional<std::string> node_pools::pool_of(const std::string& service) const {
  auto it = service_pool_.find(service);
  if (it == service_pool_.end()) return std::nullopt;
  return it->second;
}

cidr node_pools::range_for(const std::string& service) const {
  if (auto p = pool_of(service))
    if (auto it = pools_.find(*p); it != pools_.end()) return it->second.range();
  return slice_.range();
}

std::vector<node_pools::binding> node_pools::bindings() const {
  std::vector<binding> out;
  for (const auto& [service, pool] : service_pool_)
    if (auto it = pools_.find(pool); it != pools_.end())
      out.push_back({service, pool, it->second.range(), it->second.in_use()});
  return out;
}

result<ip_address> node_pools::allocate(const std::string& service) {
  if (auto p = pool_of(service)) {
    auto it = pools_.find(*p);
    if (it != pools_.end()) {
      auto ip = it->second.allocate();
      if (!ip)
        return error(errc::exhausted, (p->size() >= 3 && p->substr(p->size() - 3) == "-sh" ? "shared bridge " : "service bridge ") +
                                          *p + " subnet " + it->second.range().to_string() + " exhausted");
      return ip;
    }
  }
  return slice_.allocate();
}

status node_pools::reserve(const ip_address& ip) {
  for (auto& [name, pool] : pools_)
    if (pool.contains(ip)) return pool.reserve(ip);
  return slice_.reserve(ip);
}

void node_pools::release(const ip_address& ip) {
  for (auto& [name, pool] : pools_) {
    if (pool.contains(ip)) {
      pool.release(ip);
      return;
    }
  }
  slice_.release(ip);
}

port_band& node_pools::ports(uint16_t base) {
  if (!ports_) ports_.emplace(base);
  return *ports_;
}

result<uint16_t> node_pools::allocate_port(uint16_t base) { return ports(base).allocate(); }
void node_pools::reserve_port(uint16_t base, uint16_t port) { ports(base).reserve(port); }
void node_pools::release_port(uint16_t port) {
  if (ports_) ports_->release(port);
}

}  // namespace overlayd::net
