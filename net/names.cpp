#include "net/names.hpp"

#include <cstdio>

namespace overlayd::net {

namespace {
constexpr uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct sip_state {
  // "somepseudorandomlygeneratedbytes" xor'ed with k0 = k1 = 0.
  uint64_t v0 = 0x736f6d6570736575ULL, v1 = 0x646f72616e646f6dULL;
  uint64_t v2 = 0x6c7967656e657261ULL, v3 = 0x7465646279746573ULL;
  void round() {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  void compress(uint64_t m) {  // c = 1 round per message word
    v3 ^= m;
    round();
    v0 ^= m;
  }
};

uint64_t load_le(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
}  // namespace

uint64_t siphash13_zero_key(std::string_view data) {
  sip_state s;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t n = data.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) s.compress(load_le(p + i, 8));
  const uint64_t last = (uint64_t{n & 0xff} << 56) | load_le(p + i, n - i);
  s.compress(last);
  s.v2 ^= 0xff;
  for (int r = 0; r < 3; ++r) s.round();  // d = 3 finalisation rounds
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

std::string make_interface_name(const std::vector<std::string_view>& parts,
                                std::string_view suffix) {
  std::string candidate = "zl-";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) candidate += '-';
    candidate += parts[i];
  }
  if (!suffix.empty()) {
    candidate += '-';
    candidate += suffix;
  }
  if (candidate.size() <= max_ifname_len) return candidate;

  // Rust's `str: Hash` writes the bytes then a 0xff terminator; hashing each
  // part and then the suffix streams all of it through one hasher.
  std::string stream;
  for (auto part : parts) {
    stream += part;
    stream += '\xff';
  }
  stream += suffix;
  stream += '\xff';
  char hex[17];
  std::snprintf(hex, sizeof hex, "%llx",
                static_cast<unsigned long long>(siphash13_zero_key(stream)));
  const std::string hash(hex);

  const size_t whole_budget = max_ifname_len - 3;
  if (suffix.empty()) return "zl-" + hash.substr(0, whole_budget);
  const size_t suffix_cost = 1 + suffix.size();
  if (3 + suffix_cost >= max_ifname_len) return "zl-" + hash.substr(0, whole_budget);
  const size_t hash_budget = max_ifname_len - 3 - suffix_cost;
  return "zl-" + hash.substr(0, hash_budget) + "-" + std::string(suffix);
}

std::string isolation_network_name_problem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > max_isolation_network_bytes)
    return "is longer than " + std::to_string(max_isolation_network_bytes) + " bytes";
  for (unsigned char ch : name)
    if (ch < 0x20 || ch >= 0x7f) return "must be printable ASCII (bytes 0x20..0x7e)";
  return {};
}

}  // namespace overlayd::net
