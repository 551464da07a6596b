// The device's optional relay hook: how a relayed peer's WireGuard packets
// travel through a relay (our relay's data frames, TURN ChannelData) with no
// change to the WireGuard layer (docs/relay-protocol.md, "How it plugs into
// WireGuard").
//
// A relayed peer's endpoint is a *virtual* address: its relay candidate
// (relay_ip:session_port on our relay, or its TURN relayed address). The
// device asks the hook at the one place it sends to an endpoint:
//   TX  wrap(to, packet): when `to` is a bound relayed endpoint, the frame to
//       send instead and the relay server to send it to, from the device's
//       own UDP socket (the NAT mapping the relay already knows);
// and at the one place it dispatches a datagram that is not WireGuard:
//   RX  unwrap(datagram, from): when it is a data frame from a relay server
//       for a bound peer, where the inner WireGuard packet lies inside the
//       datagram and the virtual endpoint it stands for. The device then
//       processes the packet as if it came from that endpoint, so roaming
//       (set_endpoint to the authenticated source) and cookies keep working.
// Anything the hook does not claim goes on as before (direct send, foreign
// handler). No hook installed = no cost beyond one relaxed atomic load.
//
// Called concurrently from the device's threads (tun->udp, udp->tun,
// handshake, timers): implementations must be thread-safe and fast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "net/ip.hpp"

namespace overlayd::wg {

class relay_hook {
 public:
  virtual ~relay_hook() = default;

  // True when `to` is a relayed endpoint (the send path checks once per
  // group of packets to one peer).
  virtual bool relays(const net::endpoint& to) const = 0;
  // True when `to` is a relayed endpoint this hook frames packets for; then
  // `frame` holds the datagram (replacing its contents) and `server` its
  // destination. False leaves both untouched.
  virtual bool wrap(const net::endpoint& to, std::span<const uint8_t> packet, std::vector<uint8_t>& frame,
                    net::endpoint& server) const = 0;

  struct unwrapped {
    size_t offset = 0;  // the inner packet is datagram[offset, offset + len)
    size_t len = 0;
    net::endpoint from;  // the virtual (relayed) endpoint of the sending peer
  };
  virtual std::optional<unwrapped> unwrap(std::span<const uint8_t> datagram, const net::endpoint& from) const = 0;
};

}  // namespace overlayd::wg
