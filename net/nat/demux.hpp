// Which protocol a datagram on the WireGuard device's UDP socket belongs to.
// The device calls this on every datagram that is not a well-formed
// WireGuard message and hands it to the STUN client, TURN client or relay
// client accordingly (the "non-WireGuard datagram" hook).
#pragma once

#include "net/nat/byte_io.hpp"

namespace overlayd::net::nat {

enum class datagram_kind { wireguard, stun, turn_channel_data, relay, unknown };

// WireGuard: type 1..4 then three zero bytes. STUN: top bits zero, magic
// cookie, and the length field matching the datagram (WireGuard's bytes 2..3
// are zero, which as STUN would mean a 20-byte message - shorter than any
// WireGuard message - so a sender index equal to the cookie cannot confuse
// the two). Relay: 0xC1..0xCE + version 1. ChannelData: 0x40..0x4F.
datagram_kind classify_datagram(byte_span d) noexcept;

}  // namespace overlayd::net::nat
