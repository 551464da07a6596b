// Fuzz target: the STUN and TURN ChannelData parsers, and everything a
// caller reads out of a parsed message.
#include <cstddef>
#include <cstdint>

#include "net/nat/demux.hpp"
#include "net/nat/stun_client.hpp"
#include "net/nat/stun_message.hpp"
#include "net/nat/turn_client.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  byte_span in(data, size);
  (void)classify_datagram(in);
  (void)decode_channel_data(in);
  auto m = parse_stun(in);
  if (m) {
    (void)m->mapped_address();
    (void)m->error_code();
    (void)m->unknown_required();
    (void)m->string_attr(stun_attr::realm);
    (void)m->u32_attr(stun_attr::lifetime);
    uint8_t key[16] = {1};
    (void)m->check_integrity(byte_span(key, sizeof key));
    for (const auto& a : m->attributes) {
      (void)decode_xor_address(a.value, m->txn);
      (void)decode_plain_address(a.value);
    }
  }
  // A client must survive any datagram.
  static stun_client client;
  static bool started = false;
  if (!started) {
    client.start({endpoint::parse("192.0.2.1:3478").value()}, steady::time_point{});
    started = true;
  }
  (void)client.on_datagram(endpoint::parse("192.0.2.1:3478").value(), in);
  return 0;
}
