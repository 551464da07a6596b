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

size_t ip_allocator::in_use() const noexcept {
  return static_cast<size_t>(next_offset_ - 2) - released_.size();
}

subnet_registry::subnet_registry(cidr cluster, unsigned slice_prefix)
    : cluster_(cluster.normalized()),
      slice_prefix_(slice_prefix),
      slice_count_(pow2_saturated(slice_prefix - cluster.prefix_len())) {}

result<subnet_registry> subnet_registry::create(cidr cluster) {
  const unsigned prefix = cluster.address().is_v4() ? v4_slice_prefix : v6_slice_prefix;
  if (cluster.prefix_len() > prefix) {
    return error(errc::invalid_argument, "cluster CIDR " + cluster.to_string() +
                                             " is smaller than one /" + std::to_string(prefix) +
                                             " service subnet");
  }
  return subnet_registry(cluster, prefix);
}

cidr subnet_registry::slice(uint64_t index) const {
  // index << (bits - slice_prefix), added to the network address. For v6 the
  // shift can exceed 64 bits only when slice_prefix < 64, which never happens
  // (/120), so a 64-bit offset suffices.
  const unsigned host_bits = cluster_.address().bits() - slice_prefix_;
  return cidr(cluster_.network().plus(index << host_bits), slice_prefix_);
}

bool subnet_registry::reserved(const cidr& s) const {
  return std::any_of(reserved_.begin(), reserved_.end(),
                     [&](const ip_address& ip) { return s.contains(ip); });
}

void subnet_registry::reserve_ip(const ip_address& ip) {
  if (std::find(reserved_.begin(), reserved_.end(), ip) == reserved_.end()) reserved_.push_back(ip);
}

result<cidr> subnet_registry::assign(const std::string& service, const std::string& node) {
  auto key = std::make_pair(service, node);
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  if (by_key_.size() >= max_assignments) {
    return error(errc::exhausted, "service subnet registry full (" +
                                      std::to_string(max_assignments) + " assignments)");
  }
  // Lowest free index: walk the sorted used set until the first gap.
  uint64_t index = 0;
  for (;;) {
    while (used_.count(index)) ++index;
    if (index >= slice_count_) {
      return error(errc::exhausted, "cluster CIDR " + cluster_.to_string() +
                                        " has no free /" + std::to_string(slice_prefix_) +
                                        " service subnet");
    }
    if (!reserved(slice(index))) break;
    ++index;
  }
  cidr s = slice(index);
  used_.insert(index);
  index_by_key_.emplace(key, index);
  by_key_.emplace(std::move(key), s);
  return s;
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
  if (!registry_) {
    auto r = subnet_registry::create(cluster);
    if (!r) return std::move(r).err();
    registry_.emplace(std::move(r).value());
  }
  registry_->reserve_ip(node_ip);
  return {};
}

result<cidr> node_pools::assign_subnet(const std::string& key, const std::string& node) {
  if (!registry_)
    return error(errc::precondition,
                 "service subnet registry needs a cluster CIDR (SetupGlobalOverlay first)");
  return registry_->assign(key, node);
}

void node_pools::release_subnet(const std::string& key, const std::string& node) {
  if (registry_) registry_->release(key, node);
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
