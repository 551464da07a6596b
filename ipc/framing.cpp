#include "ipc/framing.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

namespace overlayd::ipc {
namespace {

uint32_t load_le32(const char* p) {
  auto b = [&](int i) { return uint32_t{static_cast<uint8_t>(p[i])}; };
  return b(0) | (b(1) << 8) | (b(2) << 16) | (b(3) << 24);
}

void store_le32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

error oversize(size_t len, size_t max, errc code) {
  return error(code, "frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                         std::to_string(max) + " bytes");
}

using clock = std::chrono::steady_clock;

// Waits until `fd` is ready for `events` (used after EAGAIN on a non-blocking
// fd, so the blocking helpers also work on one), or until `deadline`.
status wait_ready(int fd, short events, const char* op,
                  std::optional<clock::time_point> deadline = std::nullopt) {
  pollfd p{fd, events, 0};
  for (;;) {
    int ms = -1;
    if (deadline) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - clock::now());
      ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    const int n = ::poll(&p, 1, ms);
    if (n > 0) return {};
    if (n == 0) return error(errc::timeout, std::string(op) + ": frame not completed in time");
    if (errno != EINTR) return system_error("poll", op, errno);
  }
}

// Fills buf[0..n). Returns the number of bytes read: n, or fewer at EOF.
// With a deadline, waits for readability first so a stalled sender times out.
result<size_t> read_full(int fd, char* buf, size_t n,
                         std::optional<clock::time_point> deadline = std::nullopt) {
  size_t got = 0;
  while (got < n) {
    if (deadline) OVERLAYD_TRY(wait_ready(fd, POLLIN, "ipc connection", deadline));
    ssize_t r = ::read(fd, buf + got, n - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0) {
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      OVERLAYD_TRY(wait_ready(fd, POLLIN, "ipc connection"));
    } else if (errno != EINTR) {
      return system_error("read", "ipc connection", errno);
    }
  }
  return got;
}

// send(MSG_NOSIGNAL) on sockets so a vanished peer is EPIPE rather than a
// process-killing SIGPIPE; plain write() for anything else (pipes in tests).
ssize_t write_some(int fd, const char* p, size_t n, bool& is_socket) {
  if (is_socket) {
    ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
    if (r >= 0 || errno != ENOTSOCK) return r;
    is_socket = false;
  }
  return ::write(fd, p, n);
}

}  // namespace

result<std::string> frame_bytes(std::string_view payload, size_t max) {
  if (payload.size() > max || payload.size() > UINT32_MAX)
    return oversize(payload.size(), max, errc::invalid_argument);
  std::string out(frame_header_bytes + payload.size(), '\0');
  store_le32(out.data(), static_cast<uint32_t>(payload.size()));
  payload.copy(out.data() + frame_header_bytes, payload.size());
  return out;
}

status frame_decoder::feed(std::string_view bytes) {
  if (failed_) return error(errc::protocol, "frame stream already failed: oversize frame");
  // Compact once the consumed prefix dominates, so the buffer stays about one
  // frame long however long the connection lives.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
  while (buf_.size() - pos_ >= frame_header_bytes) {
    size_t len = load_le32(buf_.data() + pos_);
    if (len > max_) {
      failed_ = true;
      return oversize(len, max_, errc::protocol);
    }
    if (buf_.size() - pos_ - frame_header_bytes < len) break;  // partial: wait for more
    ready_.emplace_back(buf_, pos_ + frame_header_bytes, len);
    pos_ += frame_header_bytes + len;
  }
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return {};
}

std::optional<std::string> frame_decoder::pop() {
  if (ready_.empty()) return std::nullopt;
  std::string out = std::move(ready_.front());
  ready_.pop_front();
  return out;
}

result<std::optional<std::string>> read_frame(int fd, size_t max,
                                              std::chrono::milliseconds frame_timeout) {
  char header[frame_header_bytes];
  // The first byte may take as long as the client likes (an idle connection);
  // from then on the frame runs against the clock.
  auto got = read_full(fd, header, 1);
  if (!got) return std::move(got).err();
  if (*got == 0) return std::optional<std::string>();  // clean close at a boundary
  std::optional<clock::time_point> deadline;
  if (frame_timeout > std::chrono::milliseconds::zero()) deadline = clock::now() + frame_timeout;
  got = read_full(fd, header + 1, sizeof header - 1, deadline);
  if (!got) return std::move(got).err();
  if (*got < sizeof header - 1)
    return error(errc::protocol, "connection closed mid-frame (" + std::to_string(*got + 1) +
                                     " of 4 header bytes)");
  const size_t len = load_le32(header);
  if (len > max) return oversize(len, max, errc::protocol);
  std::string payload;
  while (payload.size() < len) {
    const size_t old = payload.size();
    const size_t want = std::min(len - old, frame_read_chunk);
    payload.resize(old + want);
    got = read_full(fd, payload.data() + old, want, deadline);
    if (!got) return std::move(got).err();
    if (*got < want)
      return error(errc::protocol, "connection closed mid-frame (" + std::to_string(old + *got) +
                                       " of " + std::to_string(len) + " payload bytes)");
  }
  return std::optional<std::string>(std::move(payload));
}

status write_frame(int fd, std::string_view payload, size_t max) {
  auto bytes = frame_bytes(payload, max);
  if (!bytes) return std::move(bytes).err();
  const std::string& out = *bytes;
  bool is_socket = true;
  size_t done = 0;
  while (done < out.size()) {
    ssize_t w = write_some(fd, out.data() + done, out.size() - done, is_socket);
    if (w >= 0) {
      done += static_cast<size_t>(w);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      OVERLAYD_TRY(wait_ready(fd, POLLOUT, "ipc connection"));
    } else if (errno != EINTR) {
      return system_error("write", "ipc connection", errno);
    }
  }
  return {};
}

}  // namespace overlayd::ipc
