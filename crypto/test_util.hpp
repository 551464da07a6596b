// Test helpers: hex <-> bytes (tests only).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace overlayd::crypto::testing {

inline std::vector<uint8_t> unhex(std::string_view s) {
  std::vector<uint8_t> out;
  auto v = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(uint8_t(v(s[i]) << 4 | v(s[i + 1])));
  return out;
}

template <class C>
std::string tohex(const C& c) {
  static constexpr char d[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : c) {
    out.push_back(d[b >> 4]);
    out.push_back(d[b & 15]);
  }
  return out;
}

inline std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

}  // namespace overlayd::crypto::testing
