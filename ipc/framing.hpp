// Framing of the IPC stream (spec: Transport): a 4-byte little-endian
// unsigned length, then that many bytes of JSON. At most 8 MiB per frame,
// checked on send and on receive; an oversize frame means the connection must
// close. EOF exactly at a frame boundary is a clean close.
//
// Two layers: `frame_decoder` is pure (bytes in, payloads out, no I/O) for
// event-driven servers; read_frame()/write_frame() are the blocking helpers
// for clients and tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace overlayd::ipc {

inline constexpr size_t frame_header_bytes = 4;
inline constexpr size_t max_frame_bytes = size_t{8} * 1024 * 1024;  // 8,388,608

// Length prefix + payload, ready to write. errc::invalid_argument when the
// payload exceeds `max` (the sender's side of the cap).
result<std::string> frame_bytes(std::string_view payload, size_t max = max_frame_bytes);

// Incremental decoder for one connection.
//
//   feed(bytes) ... pop() until nullopt ... feed(bytes) ...
//   on EOF: at_boundary() ? clean close : "closed mid-frame"
//
// Once feed() reports an oversize frame the decoder stays failed: the stream
// cannot be resynchronised, so the connection must close.
class frame_decoder {
 public:
  explicit frame_decoder(size_t max = max_frame_bytes) : max_(max) {}

  // Appends received bytes and splits off every complete frame. errc::protocol
  // when a header announces more than `max` bytes (or after such a failure).
  status feed(std::string_view bytes);

  // The next complete payload, oldest first; nullopt when none is ready.
  std::optional<std::string> pop();

  // True when no partial frame is buffered: EOF now is a clean close.
  bool at_boundary() const noexcept { return buf_.size() == pos_; }
  // Bytes of the partial frame buffered so far (header included).
  size_t partial_bytes() const noexcept { return buf_.size() - pos_; }
  size_t ready() const noexcept { return ready_.size(); }
  bool failed() const noexcept { return failed_; }

 private:
  size_t max_;
  std::string buf_;   // received bytes; [pos_, end) not yet split off
  size_t pos_ = 0;
  std::deque<std::string> ready_;
  bool failed_ = false;
};

// Blocking read of one frame from a stream fd. Retries on EINTR (and waits
// on EAGAIN), loops over short reads. The payload buffer grows as bytes
// arrive (at most frame_read_chunk ahead of them): a header announcing 8 MiB
// pins nothing until the bytes come. With a `frame_timeout`, a frame whose
// first byte arrived must be complete within it (a half-sent frame would
// otherwise hold its connection and buffer forever); the wait for a first
// byte is not bounded.
//   value(payload)  a frame
//   value(nullopt)  EOF exactly at a frame boundary: clean close
//   errc::protocol  EOF mid-frame, or a frame larger than `max`
//   errc::timeout   the frame did not complete within frame_timeout
//   errc::system    read() failed
inline constexpr size_t frame_read_chunk = 64 * 1024;
result<std::optional<std::string>> read_frame(
    int fd, size_t max = max_frame_bytes,
    std::chrono::milliseconds frame_timeout = std::chrono::milliseconds::zero());

// Blocking write of one frame. Retries on EINTR, waits on EAGAIN, loops over
// short writes. On a socket, a closed peer is an EPIPE error, not SIGPIPE.
// errc::invalid_argument when the payload exceeds `max` (nothing is written).
status write_frame(int fd, std::string_view payload, size_t max = max_frame_bytes);

}  // namespace overlayd::ipc
