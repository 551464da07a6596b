// crypto/secret.hpp — fixed-size secret owner and constant-time helpers.
//
//   secret<N>        N bytes that are wiped (sodium_memzero) on destruction,
//                    on move-from and on assignment; copyable on purpose (each
//                    copy wipes itself), compare with equal_ct only.
//   wipe(p, n)       sodium_memzero.
//   equal_ct(a,b,n)  constant-time equality (sodium_memcmp).
//   is_zero_ct(p,n)  constant-time all-zero test (sodium_is_zero).
//   random_bytes(p,n), random_u32()  libsodium's CSPRNG.
//
// Namespace overlayd::crypto. No function here throws or allocates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace overlayd::crypto {

void wipe(void* p, size_t n) noexcept;
bool equal_ct(const void* a, const void* b, size_t n) noexcept;
bool is_zero_ct(const void* p, size_t n) noexcept;
void random_bytes(void* p, size_t n) noexcept;
uint32_t random_u32() noexcept;
// Uniform in [0, upper) (upper > 0).
uint32_t random_uniform(uint32_t upper) noexcept;

template <size_t N>
class secret {
 public:
  static constexpr size_t size_bytes = N;
  secret() = default;
  explicit secret(std::span<const uint8_t, N> b) noexcept { std::memcpy(b_.data(), b.data(), N); }
  secret(const secret& o) noexcept : b_(o.b_) {}
  secret(secret&& o) noexcept : b_(o.b_) { o.clear(); }
  secret& operator=(const secret& o) noexcept {
    if (this != &o) b_ = o.b_;
    return *this;
  }
  secret& operator=(secret&& o) noexcept {
    if (this != &o) {
      b_ = o.b_;
      o.clear();
    }
    return *this;
  }
  ~secret() { clear(); }

  uint8_t* data() noexcept { return b_.data(); }
  const uint8_t* data() const noexcept { return b_.data(); }
  static constexpr size_t size() noexcept { return N; }
  std::span<uint8_t, N> span() noexcept { return std::span<uint8_t, N>(b_); }
  std::span<const uint8_t, N> span() const noexcept { return std::span<const uint8_t, N>(b_); }
  void clear() noexcept { wipe(b_.data(), N); }
  bool is_zero() const noexcept { return is_zero_ct(b_.data(), N); }
  // Constant time.
  friend bool operator==(const secret& a, const secret& b) noexcept {
    return equal_ct(a.b_.data(), b.b_.data(), N);
  }

 private:
  std::array<uint8_t, N> b_{};
};

}  // namespace overlayd::crypto
