// The cross-platform WireGuard UAPI (https://www.wireguard.com/xplatform/):
// text requests "get=1\n\n" and "set=1\n<key=value lines>\n\n" on a Unix
// socket, answered with "<key=value lines>errno=N\n\n". wireguard-tools'
// `wg show/showconf/set/setconf/syncconf` speak it to userspace devices.
//
// This file is the codec and the request framing (no sockets): parse a set
// body into a `device_update`, format a `device_status` as a get reply, and
// turn one request into one reply through a `uapi_handler`. The Unix-socket
// server is uapi_server.hpp.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "net/wg/device_config.hpp"

namespace overlayd::wg {

// A request larger than this is refused (wg setconf of 4096 peers with a few
// allowed IPs each is ~1 MiB).
inline constexpr size_t uapi_max_request_bytes = 4u << 20;

// Parses the lines after "set=1" (without the terminating blank line).
// Keys are applied in order: device keys, then per peer after `public_key=`.
result<device_update> parse_uapi_set(std::string_view body);

// Formats a get reply, including the trailing "errno=0\n\n".
std::string format_uapi_get(const device_status& st);

// Hex of 32 key bytes, as the UAPI writes keys; and its strict inverse.
std::string key_to_hex(std::span<const uint8_t, 32> k);
result<std::array<uint8_t, 32>> key_from_hex(std::string_view hex);

// The negative errno a set reply carries for an error (wg prints strerror of
// its negation), e.g. -EINVAL for a malformed value.
int uapi_errno(const error& e);

// What the device offers to the UAPI.
class uapi_handler {
 public:
  virtual ~uapi_handler() = default;
  virtual device_status uapi_get() = 0;
  virtual status uapi_set(const device_update& u) = 0;
};

// Splits a byte stream into requests (each ends at its first empty line) and
// answers them. Feed bytes as they arrive; replies accumulate in `out`.
class uapi_session {
 public:
  explicit uapi_session(uapi_handler& h) : h_(h) {}
  ~uapi_session() { crypto::wipe(buf_.data(), buf_.size()); }  // may hold keys
  uapi_session(const uapi_session&) = delete;
  uapi_session& operator=(const uapi_session&) = delete;
  // Returns false when the peer broke the framing (oversize request or an
  // unknown operation); the connection should then be closed after `out`.
  bool feed(std::string_view bytes, std::string& out);

 private:
  uapi_handler& h_;
  std::string buf_;
};

}  // namespace overlayd::wg
