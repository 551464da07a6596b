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
  // With `offload`, UDP GSO (send) and GRO (receive) are switched on where
  // the kernel supports them; gso()/gro() report what is on.
  static result<udp_socket> bind(uint16_t port, uint32_t fwmark = 0, bool offload = false);

  int fd() const noexcept { return fd_.get(); }
  uint16_t port() const noexcept { return port_; }
  bool is_v6() const noexcept { return v6_; }
  bool gso() const noexcept { return gso_; }
  bool gro() const noexcept { return gro_; }
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
  bool gso_ = false, gro_ = false;
};

// Received datagrams; buffers are owned here and reused between calls. With
// `gro`, one entry may hold several datagrams of segment_size(i) bytes each
// (the last may be shorter), coalesced by the kernel (UDP_GRO).
class recv_batch {
 public:
  recv_batch(size_t buf_size, bool gro);
  // Fills the batch; returns the count (0 on EAGAIN) or an error.
  result<size_t> receive(int fd);
  std::span<uint8_t> data(size_t i) noexcept {
    return {bufs_.get() + i * buf_size_, msgs_[i].msg_len};
  }
  // Whole buffer i (for in-place decryption that needs the full length).
  uint8_t* buffer(size_t i) noexcept { return bufs_.get() + i * buf_size_; }
  // Size of each datagram in entry i (== data(i).size() without GRO).
  size_t segment_size(size_t i) const noexcept { return seg_[i]; }
  // A datagram that filled its buffer was truncated by the kernel.
  bool truncated(size_t i) const noexcept { return (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  const sockaddr_storage& source(size_t i) const noexcept { return addrs_[i]; }
  size_t buf_size() const noexcept { return buf_size_; }

 private:
  size_t buf_size_;
  bool gro_;
  std::unique_ptr<uint8_t[]> bufs_;
  std::array<mmsghdr, udp_batch_capacity> msgs_{};
  std::array<iovec, udp_batch_capacity> iovs_{};
  std::array<sockaddr_storage, udp_batch_capacity> addrs_{};
  std::array<std::array<uint64_t, 4>, udp_batch_capacity> ctl_{};  // cmsg space, aligned
  std::array<size_t, udp_batch_capacity> seg_{};
};

// Datagrams to send; the caller keeps the payload bytes alive until flush.
// With `gso`, consecutive datagrams to one destination of one size (the last
// may be shorter) travel as one message with UDP_SEGMENT: one pass through
// the kernel's UDP/IP stack for up to 64 datagrams.
class send_batch {
 public:
  static constexpr size_t max_datagrams = 2 * udp_batch_capacity;
  explicit send_batch(bool gso = false) : gso_(gso) {}
  // Only while empty (the socket, and what it supports, may change).
  void set_gso(bool on) noexcept { gso_ = on; }

  bool full() const noexcept { return n_iov_ == max_datagrams || n_msg_ == udp_batch_capacity; }
  bool empty() const noexcept { return n_iov_ == 0; }
  size_t size() const noexcept { return n_iov_; }  // datagrams
  void add(const uint8_t* data, size_t len, const sockaddr_storage& dst, socklen_t dst_len) noexcept;
  // Sends everything queued (several sendmmsg calls if the kernel takes a
  // part); returns how many datagrams could not be sent. Empties the batch.
  size_t flush(int fd) noexcept;

 private:
  bool extends_last(size_t len, const sockaddr_storage& dst, socklen_t dst_len) const noexcept;

  bool gso_;
  size_t n_msg_ = 0, n_iov_ = 0;
  std::array<mmsghdr, udp_batch_capacity> msgs_{};
  std::array<iovec, max_datagrams> iovs_{};
  std::array<sockaddr_storage, udp_batch_capacity> addrs_{};
  std::array<std::array<uint64_t, 4>, udp_batch_capacity> ctl_{};
  // Per message: segment size, bytes, datagrams, closed (a short one ended it).
  struct train {
    size_t seg = 0, bytes = 0, count = 0;
    bool closed = false;
  };
  std::array<train, udp_batch_capacity> trains_{};
};

}  // namespace overlayd::wg
