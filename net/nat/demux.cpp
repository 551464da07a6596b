#include "net/nat/demux.hpp"

#include "net/nat/relay_protocol.hpp"
#include "net/nat/stun_message.hpp"
#include "net/nat/turn_client.hpp"

namespace overlayd::net::nat {

datagram_kind classify_datagram(byte_span d) noexcept {
  if (d.size() >= 4 && d[0] >= 1 && d[0] <= 4 && d[1] == 0 && d[2] == 0 && d[3] == 0)
    return datagram_kind::wireguard;
  if (looks_like_stun(d) && size_t(get_u16(d, 2)) + stun_header_size == d.size()) return datagram_kind::stun;
  if (relay::looks_like_relay(d)) return datagram_kind::relay;
  if (looks_like_channel_data(d)) return datagram_kind::turn_channel_data;
  return datagram_kind::unknown;
}

}  // namespace overlayd::net::nat
