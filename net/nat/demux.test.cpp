#include "net/nat/demux.hpp"

#include <doctest/doctest.h>

#include "net/nat/relay_protocol.hpp"
#include "net/nat/stun_message.hpp"
#include "net/nat/turn_client.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;

TEST_CASE("datagrams on the shared socket are told apart") {
  bytes wg_init(148, 0);
  wg_init[0] = 1;
  // A sender index equal to the STUN cookie is still WireGuard.
  wg_init[4] = 0x21, wg_init[5] = 0x12, wg_init[6] = 0xA4, wg_init[7] = 0x42;
  bytes wg_data(32, 0);
  wg_data[0] = 4;
  auto stun = stun_builder(stun_method::binding, stun_class::success, random_transaction_id())
                  .add_xor_address(stun_attr::xor_mapped_address, endpoint::parse("192.0.2.1:1").value())
                  .finish(std::nullopt, true);
  auto relay_ctl = relay::encode_control({}, relay::derive_auth_key("x"));
  auto relay_data = relay::encode_data(50000, 1, 2, bytes{1, 2});
  auto cd = encode_channel_data(0x4001, bytes{7});
  const std::pair<bytes, datagram_kind> rows[] = {
      {wg_init, datagram_kind::wireguard},        {wg_data, datagram_kind::wireguard},
      {stun, datagram_kind::stun},                {relay_ctl, datagram_kind::relay},
      {relay_data, datagram_kind::relay},         {cd, datagram_kind::turn_channel_data},
      {bytes{}, datagram_kind::unknown},          {bytes{0xFF, 1, 2, 3}, datagram_kind::unknown},
  };
  for (const auto& [d, want] : rows) {
    CAPTURE(d.size());
    CHECK(classify_datagram(d) == want);
  }
}
