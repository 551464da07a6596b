// Shared helpers for the net/wg protocol tests.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "crypto/keys.hpp"
#include "crypto/test_util.hpp"
#include "net/wg/noise.hpp"

namespace overlayd::wg::testing {

using crypto::testing::tohex;
using crypto::testing::unhex;

inline crypto::private_key key_of(uint8_t fill) {
  std::array<uint8_t, 32> b{};
  b.fill(fill);
  return crypto::private_key{std::span<const uint8_t, 32>(b)};
}

inline static_identity identity_of(uint8_t fill) { return static_identity::from_private(key_of(fill)); }

inline std::shared_ptr<const static_identity> random_identity() {
  return std::make_shared<const static_identity>(static_identity::from_private(crypto::generate_private_key()));
}

}  // namespace overlayd::wg::testing
