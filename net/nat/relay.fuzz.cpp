// Fuzz target: the relay control and data parsers, and the relay server and
// client state machines fed arbitrary datagrams. Inputs of at least 88 bytes
// are also signed with the right key, so the fuzzer gets past the MAC and
// exercises field decoding and the server's request handling.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "crypto/relay_auth.hpp"

#include "net/nat/relay_client.hpp"
#include "net/nat/relay_server.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto key = relay::derive_auth_key("fuzz");
  static auto server = std::make_unique<relay_server>(
      relay_server_options{ip_address::parse("192.0.2.1").value(), 3478, 8, "fuzz"});
  static auto client = [] {
    auto c = std::make_unique<relay_client>(relay_client_options{endpoint::parse("192.0.2.1:3478").value(), "fuzz"});
    c->start(std::chrono::system_clock::time_point{});
    return c;
  }();
  const auto now = std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 50);
  const auto from = endpoint::parse("198.51.100.7:4000").value();
  byte_span in(data, size);

  (void)relay::decode_control(in, key);
  (void)relay::decode_data(in);
  (void)server->on_datagram(from, in, now);
  (void)client->on_datagram(endpoint::parse("192.0.2.1:3478").value(), in, now);

  if (size >= relay::mac_offset) {
    bytes signed_msg(data, data + relay::mac_offset);
    signed_msg[1] = relay::version;
    // A timestamp inside the replay window, so requests reach the handlers.
    uint64_t ts = relay::unix_ms(now);
    for (int i = 0; i < 8; ++i) signed_msg[8 + i] = uint8_t(ts >> (56 - 8 * i));
    auto mac = overlayd::crypto::relay_mac(key, signed_msg);
    signed_msg.insert(signed_msg.end(), mac.begin(), mac.end());
    (void)relay::decode_control(signed_msg, key);
    (void)server->on_datagram(from, signed_msg, now);
  }
  server->expire(now);
  return 0;
}
