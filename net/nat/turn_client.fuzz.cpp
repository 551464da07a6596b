// Fuzz target: turn_client::on_datagram in its authenticated, allocated
// state (the state where a forged answer would do harm): the client is
// brought there against a scripted server, then fed the input as a datagram
// from the server, and polled.
#include <cstddef>
#include <cstdint>

#include "net/nat/stun_message.hpp"
#include "net/nat/turn_client.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;

namespace {
const endpoint server = endpoint::parse("192.0.2.1:3478").value();

bytes answer(const bytes& wire, const std::array<uint8_t, 16>& key) {
  auto m = parse_stun(wire).value();
  if (!m.integrity_offset)
    return stun_builder(m.method, stun_class::error, m.txn)
        .add_error(401, "Unauthorized")
        .add_string(stun_attr::realm, "example.org")
        .add_string(stun_attr::nonce, "n")
        .finish(std::nullopt, true);
  stun_builder b(m.method, stun_class::success, m.txn);
  if (m.method == stun_method::allocate)
    b.add_xor_address(stun_attr::xor_relayed_address, endpoint::parse("192.0.2.1:50000").value())
        .add_u32(stun_attr::lifetime, 600);
  return b.finish(byte_span(key), true);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto key = stun_long_term_key("alice", "example.org", "secret");
  turn_client c({server, "alice", "secret", 600s});
  steady::time_point now{};
  c.start(now);
  for (int round = 0; round < 6; ++round)
    for (auto& d : c.poll(now)) c.on_datagram(server, answer(d.data, key), now);
  (void)c.add_peer(endpoint::parse("198.51.100.9:7000").value(), now);
  auto pending = c.poll(now);
  (void)c.on_datagram(server, byte_span(data, size), now);
  now += 301s;
  (void)c.poll(now);
  (void)c.on_datagram(server, byte_span(data, size), now);
  (void)pending;
  return 0;
}
