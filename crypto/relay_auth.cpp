#include "crypto/relay_auth.hpp"

#include <sodium.h>

namespace overlayd::crypto {

secret<32> relay_auth_key(std::string_view credential) noexcept {
  // Stretch the credential into a uniform 32-byte key first, so credentials
  // of any length (including empty) key the second hash the same way.
  secret<32> inner;
  crypto_generichash(inner.data(), inner.size(), reinterpret_cast<const unsigned char*>(credential.data()),
                     credential.size(), nullptr, 0);
  secret<32> out;
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(relay_auth_label.data()),
                     relay_auth_label.size(), inner.data(), inner.size());
  return out;
}

std::array<uint8_t, 16> relay_mac(const secret<32>& key, std::span<const uint8_t> bytes) noexcept {
  std::array<uint8_t, 16> out{};
  crypto_generichash(out.data(), out.size(), bytes.data(), bytes.size(), key.data(), key.size());
  return out;
}

}  // namespace overlayd::crypto
