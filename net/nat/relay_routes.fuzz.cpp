// Fuzz target: relay_routes::unwrap, which the device's receive thread runs
// on every datagram from a relay or TURN server: our relay's data frames and
// TURN ChannelData / Data indications. The first byte picks the source.
#include <cstddef>
#include <cstdint>

#include "net/nat/relay_routes.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static relay_routes* routes = [] {
    auto* r = new relay_routes();
    r->set({
        {relay_route::kind::ours, endpoint::parse("198.51.100.1:49001").value(),
         endpoint::parse("198.51.100.1:3490").value(), 0x11223344, 0x5566778899AABBCCull, 0},
        {relay_route::kind::turn, endpoint::parse("192.0.2.1:50007").value(),
         endpoint::parse("192.0.2.1:3478").value(), 0, 0, 0x4000},
    });
    return r;
  }();
  if (size < 1) return 0;
  static const endpoint from[] = {endpoint::parse("198.51.100.1:3490").value(),
                                  endpoint::parse("192.0.2.1:3478").value(),
                                  endpoint::parse("203.0.113.9:1").value()};
  auto u = routes->unwrap(std::span<const uint8_t>(data + 1, size - 1), from[data[0] % 3]);
  if (u && u->offset + u->len > size - 1) __builtin_trap();  // inside the datagram
  return 0;
}
