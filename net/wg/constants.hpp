// net/wg/constants.hpp — WireGuard protocol constants (whitepaper §6.1 and
// the message formats of §5.4), with units in the types. Namespace overlayd::wg.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace overlayd::wg {

using namespace std::chrono_literals;

// --- Limits on a session (keypair) ---
inline constexpr uint64_t rekey_after_messages = uint64_t{1} << 60;
inline constexpr uint64_t reject_after_messages = ~uint64_t{0} - (uint64_t{1} << 13);  // 2^64 - 2^13 - 1
inline constexpr std::chrono::seconds rekey_after_time{120};
inline constexpr std::chrono::seconds reject_after_time{180};
inline constexpr std::chrono::seconds rekey_attempt_time{90};
inline constexpr std::chrono::seconds rekey_timeout{5};
inline constexpr std::chrono::milliseconds rekey_timeout_jitter_max{333};
inline constexpr std::chrono::seconds keepalive_timeout{10};
inline constexpr std::chrono::seconds cookie_secret_max_age{120};
// A cookie we received is trusted a little less long than the responder keeps
// its secret, so we never send a MAC2 the responder cannot check any more.
inline constexpr std::chrono::seconds cookie_secret_latency{5};
// Handshake retransmits before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT.
inline constexpr unsigned max_timer_handshakes = rekey_attempt_time / rekey_timeout;
// Responder-side flood guard: at most this many initiations per peer per second.
inline constexpr unsigned initiations_per_second = 50;
inline constexpr std::chrono::milliseconds min_initiation_interval{1000 / initiations_per_second};
// Receiving on an initiator keypair this old triggers one last-minute rekey.
inline constexpr std::chrono::seconds rekey_on_receive_age =
    reject_after_time - keepalive_timeout - rekey_timeout;

// --- Replay window (RFC 6479 bitmap) ---
inline constexpr size_t replay_window_bits = 8192;  // >= 2048 required

// --- Noise ---
inline constexpr std::string_view noise_construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
inline constexpr std::string_view noise_identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";
inline constexpr std::string_view label_mac1 = "mac1----";
inline constexpr std::string_view label_cookie = "cookie--";

// --- Messages (little-endian 32-bit type field; the 3 high bytes are zero) ---
enum class message_type : uint32_t {
  initiation = 1,
  response = 2,
  cookie_reply = 3,
  transport = 4,
};
inline constexpr size_t initiation_size = 148;
inline constexpr size_t response_size = 92;
inline constexpr size_t cookie_reply_size = 64;
inline constexpr size_t transport_header_size = 16;
inline constexpr size_t transport_min_size = 32;  // header + empty payload's tag
inline constexpr size_t aead_tag_size = 16;
inline constexpr size_t cookie_size = 16;
inline constexpr size_t transport_padding = 16;  // plaintext padded to a multiple of this

// --- Index table ---
inline constexpr size_t max_index_entries = 1u << 20;

}  // namespace overlayd::wg
