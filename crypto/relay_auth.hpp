// crypto/relay_auth.hpp — keys and MACs for the NAT relay's authentication.
//
//   relay_auth_key(credential) -> 32-byte key
//       = BLAKE2b-256(key = BLAKE2b-256(credential), message = "overlayd-relay-auth-v1")
//       i.e. crypto_generichash(out 32, "overlayd-relay-auth-v1", key = crypto_generichash(32, credential)).
//       Every node holding the same cluster credential derives the same key;
//       an empty credential is allowed (and yields a fixed, public key).
//   relay_mac(key, bytes) -> 16 bytes = BLAKE2b-128 keyed with `key`
//       (crypto_generichash, outlen 16). Compare with equal_ct.
//
// Namespace overlayd::crypto.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/secret.hpp"

namespace overlayd::crypto {

inline constexpr std::string_view relay_auth_label = "overlayd-relay-auth-v1";

secret<32> relay_auth_key(std::string_view credential) noexcept;
std::array<uint8_t, 16> relay_mac(const secret<32>& key, std::span<const uint8_t> bytes) noexcept;

}  // namespace overlayd::crypto
