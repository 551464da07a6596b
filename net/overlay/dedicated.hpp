// A dedicated per-service overlay (mode `dedicated`): a second WireGuard
// device of ours, make_interface_name({deployment, instance_id, service}, "d"),
// with its own key and a port from the dedicated band, carrying only that
// service's cross-node traffic. The seed's setup_service_overlay_dedicated /
// attach_dedicated_service, minus the bookkeeping the supervisor keeps (marker,
// ports, registry). Plain class: the supervisor owns one per service.
//
// Addressing. The seed gives the device overlay_ip (the first usable host of
// the service subnet) with the subnet's prefix, and puts the same address on
// the per-service bridge as its gateway. With a real kernel route per address
// that would make two connected routes for the subnet (bridge and TUN) and
// local containers could become unreachable from the TUN side. So the device
// carries overlay_ip/32 (/128) only, the local subnet stays connected to the
// bridge, and the subnets of remote nodes are routed onto the device when a
// service-scoped peer brings them as AllowedIPs (routes are journaled through
// host::mutator and vanish with the TUN anyway). Our userspace device, unlike
// boringtun in the seed, does not route by itself.
#pragma once

#include <memory>
#include <vector>
#include <string>

#include "core/error.hpp"
#include "crypto/keys.hpp"
#include "net/host/mutator.hpp"
#include "net/ip.hpp"
#include "net/overlay/global_overlay.hpp"
#include "net/wg/device.hpp"

namespace overlayd::overlay {

struct dedicated_spec {
  std::string interface;
  crypto::private_key private_key;
  uint16_t port = 0;
  net::cidr subnet;          // this node's slice of the service
  net::ip_address overlay_ip;  // first usable of `subnet`
  std::string uapi_dir;
  bool pin_threads = true;  // wg::device_options::pin_io_threads
  uint32_t mtu = 0;         // wg::device_options::mtu (0 = the underlay's)
};

class dedicated_overlay {
 public:
  // Bounded: routes this device installs for peer AllowedIPs.
  static constexpr size_t max_routes = 4096;

  static result<std::unique_ptr<dedicated_overlay>> bring_up(const dedicated_spec& spec,
                                                             host::mutator& host);
  // Removes the routes it installed; the TUN goes with the device.
  ~dedicated_overlay();

  const std::string& interface() const noexcept { return interface_; }
  const net::cidr& subnet() const noexcept { return subnet_; }
  const net::ip_address& overlay_ip() const noexcept { return overlay_ip_; }
  uint16_t port() const noexcept { return device_->listen_port(); }
  std::string public_key_base64() const;
  wg::device& device() noexcept { return *device_; }
  const wg::device& device() const noexcept { return *device_; }

  status upsert_peer(const peer_config& p);
  status remove_peer(const crypto::public_key& k);
  status add_allowed_ip(const crypto::public_key& k, const net::cidr& c);
  status remove_allowed_ip(const crypto::public_key& k, const net::cidr& c);

 private:
  dedicated_overlay(host::mutator& host) : host_(host) {}
  void route(const net::cidr& c);
  void unroute(const net::cidr& c);

  host::mutator& host_;
  std::string interface_;
  net::cidr subnet_;
  net::ip_address overlay_ip_;
  std::vector<net::cidr> routes_;
  std::unique_ptr<wg::device> device_;
};

}  // namespace overlayd::overlay
