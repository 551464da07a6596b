#include "net/overlay/dedicated.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "net/netlink/link.hpp"

namespace overlayd::overlay {

result<std::unique_ptr<dedicated_overlay>> dedicated_overlay::bring_up(const dedicated_spec& spec,
                                                                       host::mutator& host) {
  std::unique_ptr<dedicated_overlay> d(new dedicated_overlay(host));
  d->interface_ = spec.interface;
  d->subnet_ = spec.subnet.normalized();
  d->overlay_ip_ = spec.overlay_ip;
  // A stale link of our deterministic name would make the TUN creation fail.
  if (auto r = netlink::delete_link(host.netlink(), d->interface_); !r)
    spdlog::warn("removing stale {}: {}", d->interface_, r.err().message);
  wg::device_options opts;
  opts.name = d->interface_;
  opts.addresses = {net::cidr(spec.overlay_ip, spec.overlay_ip.is_v4() ? 32 : 128)};
  opts.listen_port = spec.port;
  opts.private_key = crypto::private_key(spec.private_key.span());
  opts.uapi_dir = spec.uapi_dir;
  opts.pin_io_threads = spec.pin_threads;
  opts.mtu = spec.mtu;
  auto dev = wg::device::create(std::move(opts));
  if (!dev) return error(dev.err().code, dev.err().message, dev.err().sys_errno);
  d->device_ = std::move(dev).value();
  // v6 transit from the service's bridge onto this device needs forwarding
  // on it (v4 forwarding is node-wide, enabled at attach).
  if (d->subnet_.fam() == net::family::v6)
    if (auto r = host.enable_ipv6_forwarding(d->interface_); !r)
      spdlog::warn("IPv6 forwarding on {}: {}", d->interface_, r.err().message);
  return d;
}

dedicated_overlay::~dedicated_overlay() {
  for (const auto& c : routes_) (void)host_.delete_route(c, interface_);
}

std::string dedicated_overlay::public_key_base64() const {
  return crypto::key_to_base64(device_->public_key().span());
}

void dedicated_overlay::route(const net::cidr& c) {
  const auto n = c.normalized();
  // Our own subnet (or anything covering it) is the bridge's; never pull it
  // onto the TUN. A more specific route inside it (a guest's /32) is fine.
  if (n.prefix_len() <= subnet_.prefix_len() && n.contains(subnet_.network())) return;
  if (std::find(routes_.begin(), routes_.end(), n) != routes_.end()) return;
  if (routes_.size() >= max_routes) {
    spdlog::warn("{}: route limit {} reached; {} not routed", interface_, max_routes, n.to_string());
    return;
  }
  if (auto r = host_.replace_route(n, interface_); !r) {
    spdlog::warn("{}: route {} failed: {}", interface_, n.to_string(), r.err().message);
    return;
  }
  routes_.push_back(n);
}

void dedicated_overlay::unroute(const net::cidr& c) {
  const auto n = c.normalized();
  auto it = std::find(routes_.begin(), routes_.end(), n);
  if (it == routes_.end()) return;
  (void)host_.delete_route(n, interface_);
  routes_.erase(it);
}

status dedicated_overlay::upsert_peer(const peer_config& p) {
  // The spec's list replaces the peer's: drop routes of the old list first.
  if (auto old = device_->peer(p.key))
    for (const auto& c : old->allowed_ips) unroute(c);
  wg::peer_update u;
  u.key = p.key;
  // Port 0 (the seed's "0.0.0.0:0" for a roaming guest) is no endpoint: the
  // device learns it from the peer's first authenticated packet.
  if (p.endpoint.port() != 0) u.endpoint = p.endpoint;
  u.persistent_keepalive = p.persistent_keepalive;
  u.replace_allowed_ips = true;
  u.allowed_ips = p.allowed_ips;
  OVERLAYD_TRY(device_->upsert_peer(u));
  for (const auto& c : p.allowed_ips) route(c);
  return {};
}

status dedicated_overlay::remove_peer(const crypto::public_key& k) {
  if (auto old = device_->peer(k))
    for (const auto& c : old->allowed_ips) unroute(c);
  return device_->remove_peer(k);
}

status dedicated_overlay::add_allowed_ip(const crypto::public_key& k, const net::cidr& c) {
  OVERLAYD_TRY(device_->add_allowed_ip(k, c));
  route(c);
  return {};
}

status dedicated_overlay::remove_allowed_ip(const crypto::public_key& k, const net::cidr& c) {
  OVERLAYD_TRY(device_->remove_allowed_ip(k, c));
  unroute(c);
  return {};
}

}  // namespace overlayd::overlay
