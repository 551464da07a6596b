// The device's UDP socket and its batched I/O.
//
//   udp_socket::bind(port, fwmark)  dual-stack [::]:port (v4 peers appear as
//                                   v4-mapped); port 0 = the kernel picks,
//                                   port() reports the bound one. Falls back
//                                   to v4-only where IPv6 is disabled.
//   recv_batch                      up to `capacity` datagrams per recvmmsg
//   send_batch                      up to `capacity` datagrams per sendmmsg
//
// Batching is the point: one syscall moves many packets, which is what limits
// a userspace data plane (see bench/dataplane.sh).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"
#include "net/wg/unique_fd.hpp"

namespace overlayd::wg {

inline constexpr size_t udp_batch_capacity = 64;

class udp_socket {
 public:
  static result<udp_socket> bind(uint16_t port, uint32_t fwmark = 0);

  int fd() const noexcept { return fd_.get(); }
  uint16_t port() const noexcept { return port_; }
  bool is_v6() const noexcept { return v6_; }
  status set_fwmark(uint32_t mark);
  // The sockaddr to send to `ep` on this socket (v4-mapped on a v6 socket);
  // errc::not_supported for a v6 endpoint on a v4-only socket.
  result<socklen_t> to_sockaddr(const net::endpoint& ep, sockaddr_storage& out) const;
  // Sends one datagram now (handshakes, raw NAT helper traffic).
  status send_to(std::span<const uint8_t> data, const net::endpoint& ep) const;

 private:
  udp_socket(unique_fd fd, uint16_t port, bool v6) : fd_(std::move(fd)), port_(port), v6_(v6) {}
  unique_fd fd_;
  uint16_t port_ = 0;
  bool v6_ = true;
};

// Received datagrams; buffers are owned here and reused between calls.
class recv_batch {
 public:
  explicit recv_batch(size_t buf_size);
  // Fills the batch; returns the count (0 on EAGAIN) or an error.
  result<size_t> receive(int fd);
  std::span<uint8_t> data(size_t i) noexcept {
    return {bufs_.get() + i * buf_size_, msgs_[i].msg_len};
  }
  // Whole buffer i (for in-place decryption that needs the full length).
  uint8_t* buffer(size_t i) noexcept { return bufs_.get() + i * buf_size_; }
  // A datagram that filled its buffer was truncated by the kernel.
  bool truncated(size_t i) const noexcept { return (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  const sockaddr_storage& source(size_t i) const noexcept { return addrs_[i]; }
  size_t buf_size() const noexcept { return buf_size_; }

 private:
  size_t buf_size_;
  std::unique_ptr<uint8_t[]> bufs_;
  std::array<mmsghdr, udp_batch_capacity> msgs_{};
  std::array<iovec, udp_batch_capacity> iovs_{};
  std::array<sockaddr_storage, udp_batch_capacity> addrs_{};
};

// Datagrams to send; the caller keeps the payload bytes alive until flush.
class send_batch {
 public:
  bool full() const noexcept { return n_ == udp_batch_capacity; }
  bool empty() const noexcept { return n_ == 0; }
  size_t size() const noexcept { return n_; }
  void add(const uint8_t* data, size_t len, const sockaddr_storage& dst, socklen_t dst_len) noexcept;
  // Sends everything queued (several sendmmsg calls if the kernel takes a
  // part); returns how many datagrams could not be sent. Empties the batch.
  size_t flush(int fd) noexcept;

 private:
  size_t n_ = 0;
  std::array<mmsghdr, udp_batch_capacity> msgs_{};
  std::array<iovec, udp_batch_capacity> iovs_{};
  std::array<sockaddr_storage, udp_batch_capacity> addrs_{};
};

}  // namespace overlayd::wg
