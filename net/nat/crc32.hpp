// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320): the checksum STUN's
// FINGERPRINT attribute uses (RFC 8489 section 14.7).
#pragma once

#include <cstdint>
#include <span>

namespace overlayd::net::nat {

uint32_t crc32(std::span<const uint8_t> data) noexcept;

}  // namespace overlayd::net::nat
