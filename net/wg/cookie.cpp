// MAC1 / MAC2 / cookie replies (whitepaper §5.4.4 and §5.4.7).
#include "net/wg/cookie.hpp"

#include <cstring>

#include "crypto/aead.hpp"
#include "crypto/blake2s.hpp"

namespace overlayd::wg {
namespace {

bytes_view label_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// key = HASH(label || public key)
void derive_key(crypto::secret<32>& out, std::string_view label, const crypto::public_key& pk) {
  crypto::hash(out.span(), label_bytes(label), pk.span());
}

// A_m: the source address bytes followed by the port (big-endian).
size_t address_bytes(const net::endpoint& src, uint8_t (&out)[18]) {
  const size_t n = src.ip().size();
  std::memcpy(out, src.ip().data(), n);
  out[n] = uint8_t(src.port() >> 8);
  out[n + 1] = uint8_t(src.port());
  return n + 2;
}

}  // namespace

size_t mac1_offset_for(size_t msg_size) noexcept {
  if (msg_size == initiation_size) return msg_initiation::mac1_offset;
  if (msg_size == response_size) return msg_response::mac1_offset;
  return 0;
}

cookie_checker::cookie_checker(const clock& clk) : clock_(clk) {}

void cookie_checker::set_identity(const crypto::public_key& local_public) {
  std::lock_guard lock(mu_);
  derive_key(mac1_key_, label_mac1, local_public);
  derive_key(cookie_key_, label_cookie, local_public);
}

std::array<uint8_t, 16> cookie_checker::cookie_for(const net::endpoint& src) const {
  uint8_t a[18];
  const size_t n = address_bytes(src, a);
  std::array<uint8_t, 16> cookie{};
  // tau = MAC(R_m, A_m)
  crypto::mac(cookie, secret_.span(), bytes_view(a, n));
  return cookie;
}

mac_check cookie_checker::check(bytes_view msg, const net::endpoint& src) const {
  const size_t off = mac1_offset_for(msg.size());
  if (off == 0) return mac_check::invalid;
  std::lock_guard lock(mu_);
  // mac1 = MAC(HASH("mac1----" || S_pub_m), msg[0 : off])
  uint8_t expect[16];
  crypto::mac(expect, mac1_key_.span(), msg.first(off));
  if (!crypto::equal_ct(expect, msg.data() + off, 16)) return mac_check::invalid;

  // mac2 = MAC(tau, msg[0 : off + 16]), tau from the current (unexpired) secret.
  if (!secret_birth_ || clock_.now() - *secret_birth_ >= cookie_secret_max_age) return mac_check::valid_mac1;
  const auto cookie = cookie_for(src);
  crypto::mac(expect, cookie, msg.first(off + 16));
  if (!crypto::equal_ct(expect, msg.data() + off + 16, 16)) return mac_check::valid_mac1;
  return mac_check::valid_cookie;
}

msg_cookie_reply cookie_checker::make_reply(bytes_view msg, uint32_t sender_index, const net::endpoint& src) const {
  msg_cookie_reply reply{};
  store_le32(reply.type, uint32_t(message_type::cookie_reply));
  store_le32(reply.receiver, sender_index);
  crypto::random_bytes(reply.nonce, sizeof reply.nonce);
  const size_t off = mac1_offset_for(msg.size());
  uint8_t mac1[16] = {};
  if (off != 0) std::memcpy(mac1, msg.data() + off, 16);

  std::lock_guard lock(mu_);
  // R_m changes every COOKIE_SECRET_MAX_AGE; rotated lazily when needed.
  const time_point now = clock_.now();
  if (!secret_birth_ || now - *secret_birth_ >= cookie_secret_max_age) {
    crypto::random_bytes(secret_.data(), secret_.size());
    secret_birth_ = now;
  }
  auto cookie = cookie_for(src);
  // cookie = XAEAD(HASH("cookie--" || S_pub_m), nonce, tau, mac1)
  crypto::xaead_seal(reply.encrypted_cookie, cookie.data(), cookie.size(), bytes_view(mac1, 16),
                     std::span<const uint8_t, 24>(reply.nonce), cookie_key_.span());
  crypto::wipe(cookie.data(), cookie.size());
  return reply;
}

void cookie_maker::set_remote(const crypto::public_key& remote_public) {
  derive_key(mac1_key_, label_mac1, remote_public);
  derive_key(cookie_key_, label_cookie, remote_public);
  cookie_.clear();
  cookie_birth_.reset();
  have_last_mac1_ = false;
}

bool cookie_maker::has_fresh_cookie(time_point now) const noexcept {
  return cookie_birth_ && now - *cookie_birth_ < cookie_secret_max_age - cookie_secret_latency;
}

void cookie_maker::add_macs(std::span<uint8_t> msg, time_point now) {
  const size_t off = mac1_offset_for(msg.size());
  if (off == 0) return;
  // mac1 = MAC(HASH("mac1----" || S_pub_peer), msg[0 : off])
  crypto::mac(std::span<uint8_t, 16>(msg.data() + off, 16), mac1_key_.span(), msg.first(off));
  std::memcpy(last_mac1_.data(), msg.data() + off, 16);
  have_last_mac1_ = true;
  // mac2 = MAC(cookie, msg[0 : off + 16]) if we hold a fresh cookie, else zeros
  auto mac2 = std::span<uint8_t, 16>(msg.data() + off + 16, 16);
  if (has_fresh_cookie(now)) {
    crypto::mac(mac2, cookie_.span(), msg.first(off + 16));
  } else {
    std::memset(mac2.data(), 0, 16);
  }
}

status cookie_maker::consume_reply(const msg_cookie_reply& reply, time_point now) {
  if (!have_last_mac1_) return error(errc::protocol, "cookie reply: no message awaiting one");
  crypto::secret<16> cookie;
  if (!crypto::xaead_open(cookie.data(), reply.encrypted_cookie, sizeof reply.encrypted_cookie, last_mac1_,
                          std::span<const uint8_t, 24>(reply.nonce), cookie_key_.span()))
    return error(errc::protocol, "cookie reply: does not authenticate");
  cookie_ = std::move(cookie);
  cookie_birth_ = now;
  have_last_mac1_ = false;  // one reply per MAC1 sent
  return {};
}

}  // namespace overlayd::wg
