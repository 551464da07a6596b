// What the socket-free protocol classes hand to whoever owns the socket: a
// datagram and where it goes. The WireGuard device (or a test) sends it.
#pragma once

#include <chrono>

#include "net/ip.hpp"
#include "net/nat/byte_io.hpp"

namespace overlayd::net::nat {

using steady = std::chrono::steady_clock;

struct outgoing_datagram {
  endpoint to;
  bytes data;
};

}  // namespace overlayd::net::nat
