// The relayed data path's routing table: the device's relay hook
// (net/wg/relay_hook.hpp) for our relay's data frames and TURN ChannelData.
//
// The nat_orchestrator owns the relay and TURN clients (control traffic,
// allocations, binds); after every change it publishes the resulting routes
// here with set(). The device's threads read them without waiting on the
// orchestrator (an immutable table swapped atomically; a pointer copy under
// a spin lock, core/atomic_shared_ptr.hpp):
//   TX  a packet for a route's virtual endpoint (the peer's relay candidate)
//       becomes a data frame (ours: header with the peer's session port, our
//       session id and token) or ChannelData (TURN: the channel bound to the
//       peer) sent to the route's server;
//   RX  a data frame from a route's server carrying our session id and token
//       and a bound peer port, or ChannelData on a bound channel, yields the
//       inner packet and the virtual endpoint it came from.
// Frames that match no route are not claimed (the caller hands them on).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "core/atomic_shared_ptr.hpp"
#include "net/ip.hpp"
#include "net/wg/relay_hook.hpp"

namespace overlayd::net::nat {

struct relay_route {
  enum class kind : uint8_t { ours, turn };
  kind how = kind::ours;
  endpoint peer;    // virtual endpoint: the peer's relay candidate
  endpoint server;  // the relay / TURN server's address (frames go there, come from there)
  uint32_t session_id = 0;  // ours: our session and its token; the peer's
  uint64_t token = 0;       //   session port is peer.port()
  uint16_t channel = 0;     // turn: the channel bound to `peer`
  friend bool operator==(const relay_route&, const relay_route&) = default;
};

class relay_routes : public wg::relay_hook {
 public:
  // Our relay binds at most 64 peers per client, TURN 0x4000 channels; this
  // bounds the table whatever the clients do.
  static constexpr size_t max_routes = 4096;

  relay_routes();
  // Replaces the table (routes beyond max_routes are dropped). Thread-safe.
  void set(std::vector<relay_route> routes);
  std::vector<relay_route> routes() const;

  bool relays(const endpoint& to) const override;
  bool wrap(const endpoint& to, std::span<const uint8_t> packet, std::vector<uint8_t>& frame,
            endpoint& server) const override;
  std::optional<unwrapped> unwrap(std::span<const uint8_t> datagram, const endpoint& from) const override;

 private:
  struct table {
    std::vector<relay_route> all;
    std::map<endpoint, relay_route> by_peer;
    // (server, kind, peer port or channel) -> route
    std::map<std::tuple<endpoint, relay_route::kind, uint16_t>, relay_route> by_rx;
  };
  atomic_shared_ptr<const table> t_;  // core/atomic_shared_ptr.hpp: not std::atomic
};

}  // namespace overlayd::net::nat
