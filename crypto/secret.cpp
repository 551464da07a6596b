// Thin libsodium wrappers behind crypto/secret.hpp (keeps <sodium.h> out of
// the headers every module includes).
#include "crypto/secret.hpp"

#include <sodium.h>

namespace overlayd::crypto {

void wipe(void* p, size_t n) noexcept { sodium_memzero(p, n); }
bool equal_ct(const void* a, const void* b, size_t n) noexcept { return sodium_memcmp(a, b, n) == 0; }
bool is_zero_ct(const void* p, size_t n) noexcept {
  return sodium_is_zero(static_cast<const unsigned char*>(p), n) == 1;
}
// randombytes_* initialise libsodium's generator on first use themselves.
void random_bytes(void* p, size_t n) noexcept { randombytes_buf(p, n); }
uint32_t random_u32() noexcept { return randombytes_random(); }
uint32_t random_uniform(uint32_t upper) noexcept { return randombytes_uniform(upper); }

}  // namespace overlayd::crypto
