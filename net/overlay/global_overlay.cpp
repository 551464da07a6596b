#include "net/overlay/global_overlay.hpp"

#include <spdlog/spdlog.h>

#include "net/names.hpp"
#include "net/netlink/link.hpp"
#include "net/netlink/route.hpp"

namespace overlayd::overlay {

result<std::unique_ptr<global_overlay>> global_overlay::bring_up(const global_spec& spec,
                                                                 host::mutator& host) {
  std::unique_ptr<global_overlay> g(new global_overlay());
  g->interface_ = net::make_interface_name({spec.deployment, spec.instance_id}, "g");
  g->node_ip_ = spec.node_ip;
  g->cluster_ = spec.cluster.normalized();

  // A link of that name left by a previous run would make the TUN creation
  // fail; the name is ours by construction (zl- prefix, our deployment).
  if (auto d = netlink::delete_link(host.netlink(), g->interface_); !d)
    spdlog::warn("removing stale {}: {}", g->interface_, d.err().message);

  wg::device_options opts;
  opts.name = g->interface_;
  // The node IP carries the cluster's prefix, so the connected route covers
  // every node of the cluster (v4 and v6 alike; a v6 node address with its
  // slice's /64 left the rest of the cluster unroutable).
  opts.addresses = {net::cidr(spec.node_ip, g->cluster_.prefix_len())};
  opts.listen_port = spec.wg_port;
  opts.private_key = spec.private_key ? crypto::private_key(spec.private_key->span())
                                      : crypto::generate_private_key();
  opts.uapi_dir = spec.uapi_dir;
  opts.pin_io_threads = spec.pin_threads;
  opts.mtu = spec.mtu;
  auto dev = wg::device::create(std::move(opts));
  if (!dev)
    return error(dev.err().code, "Failed to create global overlay: " + dev.err().message,
                 dev.err().sys_errno);
  g->device_ = std::move(dev).value();

  if (!spec.rootless) {
    // As the seed: failures here degrade (logged), they do not fail setup.
    // v6 forwarding is decided on the interface a packet comes in by: the
    // device (containers' traffic from remote nodes) and the uplinks the
    // default routes leave by (replies to masqueraded egress). Never
    // all.forwarding, which would turn the whole host into a router.
    if (g->cluster_.fam() == net::family::v6) {
      std::vector<std::string> ifaces{g->interface_};
      if (auto up = netlink::default_route_devices(host.netlink(), net::family::v6); up)
        ifaces.insert(ifaces.end(), up->begin(), up->end());
      else
        spdlog::warn("IPv6 uplinks not found ({}); egress replies may not be forwarded", up.err().message);
      for (const auto& i : ifaces)
        if (auto r = host.enable_ipv6_forwarding(i); !r)
          spdlog::warn("IPv6 forwarding on {}: {}", i, r.err().message);
    }
    if (auto r = host.mark_unmanaged(); !r)
      spdlog::warn("could not mark zl-* links unmanaged: {}", r.err().message);
    if (auto r = host.ensure_subnet_rules({g->cluster_}); !r)
      spdlog::warn("failed to install overlay firewall allow-rules for {}: {}; service DNS and "
                   "cross-service traffic may be blocked by the host firewall",
                   g->cluster_.to_string(), r.err().message);
    if (auto r = host.ensure_masquerade({g->cluster_}); !r)
      spdlog::warn("failed to install overlay egress masquerade for {}: {}",
                   g->cluster_.to_string(), r.err().message);
  } else {
    spdlog::info("rootless mode: no host firewall rules or network-manager drop-ins");
  }
  return g;
}

std::string global_overlay::public_key_base64() const {
  return crypto::key_to_base64(device_->public_key().span());
}

status global_overlay::upsert_peer(const peer_config& p) {
  wg::peer_update u;
  u.key = p.key;
  // Port 0 (the seed's "0.0.0.0:0" for a roaming guest) is no endpoint: the
  // device learns it from the peer's first authenticated packet.
  if (p.endpoint.port() != 0) u.endpoint = p.endpoint;
  u.persistent_keepalive = p.persistent_keepalive;
  u.replace_allowed_ips = true;
  u.allowed_ips = p.allowed_ips;
  return device_->upsert_peer(u);
}

status global_overlay::remove_peer(const crypto::public_key& k) { return device_->remove_peer(k); }

status global_overlay::add_allowed_ip(const crypto::public_key& k, const net::cidr& c) {
  return device_->add_allowed_ip(k, c);
}

status global_overlay::remove_allowed_ip(const crypto::public_key& k, const net::cidr& c) {
  return device_->remove_allowed_ip(k, c);
}

std::vector<net::cidr> routed_cidrs(const wg::device& dev) { return dev.allowed_ips(); }

std::vector<std::pair<net::cidr, crypto::public_key>> cidr_moves(const wg::device& dev,
                                                                 const crypto::public_key& key,
                                                                 const std::vector<net::cidr>& cidrs) {
  // One exact-prefix lookup per CIDR (not a status of every peer: that made
  // add_peer linear in the peer count, and status itself was quadratic).
  std::vector<std::pair<net::cidr, crypto::public_key>> out;
  for (const auto& c : cidrs)
    if (auto owner = dev.allowed_ip_owner(c); owner && *owner != key) out.emplace_back(c.normalized(), *owner);
  return out;
}

result<peer_config> parse_peer(std::string_view public_key, std::string_view endpoint,
                               std::string_view allowed_ips, uint64_t keepalive_secs) {
  peer_config p;
  auto k = crypto::public_key_from_base64(public_key);
  if (!k) return error(errc::invalid_argument, "invalid peer public key " + std::string(public_key));
  p.key = *k;
  auto ep = net::endpoint::parse(endpoint);
  if (!ep) return error(errc::invalid_argument, "invalid peer endpoint " + std::string(endpoint) +
                                                    ": " + ep.err().message);
  p.endpoint = *ep;
  auto ips = net::parse_cidr_list(allowed_ips);
  if (!ips) return std::move(ips).err();
  p.allowed_ips = std::move(ips).value();
  if (keepalive_secs > 65535)
    return error(errc::invalid_argument,
                 "persistent_keepalive_secs " + std::to_string(keepalive_secs) + " exceeds 65535");
  p.persistent_keepalive = static_cast<uint16_t>(keepalive_secs);
  return p;
}

}  // namespace overlayd::overlay
