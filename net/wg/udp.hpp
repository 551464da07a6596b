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

#include <poll.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"
#include "net/wg/unique_fd.hpp"

namespace overlayd::wg {

inline constexpr size_t udp_batch_capacity = 64;

// How long one flush may wait, in total, for socket buffer space (EAGAIN,
// ENOBUFS) before it drops what is left: the TUN keeps being read and TCP
// recovers from a loss faster than from a sender frozen for seconds.
inline constexpr std::chrono::milliseconds tx_stall_wait{5};
inline constexpr int tx_stall_max_waits = 4;  // => at most ~20 ms per flush

// The system calls a send batch makes, behind an interface so tests can
// inject the failures real networks produce (EIO from a NIC without UDP GSO,
// EMSGSIZE from a path smaller than the train, persistent EAGAIN).
class socket_calls {
 public:
  virtual ~socket_calls() = default;
  // As sendmmsg(2) without flags: count sent, or -1 with errno set.
  virtual int sendmmsg(int fd, mmsghdr* msgs, unsigned n) = 0;
  // Waits up to `d` for the socket to be writable (poll(2) POLLOUT).
  virtual void wait_writable(int fd, std::chrono::milliseconds d) = 0;
};
// The real system calls (stateless, shared).
socket_calls& system_socket_calls() noexcept;

class udp_socket {
 public:
  // With `offload`, UDP GSO (send) and GRO (receive) are switched on where
  // the kernel supports them; gso()/gro() report what is on.
  static result<udp_socket> bind(uint16_t port, uint32_t fwmark = 0, bool offload = false);

  int fd() const noexcept { return fd_.get(); }
  uint16_t port() const noexcept { return port_; }
  bool is_v6() const noexcept { return v6_; }
  // GSO is on and has not failed on this socket.
  bool gso() const noexcept { return gso_ && !gso_broken_.load(std::memory_order_relaxed); }
  // A GSO send failed with EIO (a device or driver without UDP segmentation
  // offload on the route): GSO stays off for this socket. True the first
  // time only, so the caller logs once.
  bool disable_gso() const noexcept { return gso_ && !gso_broken_.exchange(true); }
  bool gro() const noexcept { return gro_; }
  status set_fwmark(uint32_t mark);
  // The sockaddr to send to `ep` on this socket (v4-mapped on a v6 socket);
  // errc::not_supported for a v6 endpoint on a v4-only socket.
  result<socklen_t> to_sockaddr(const net::endpoint& ep, sockaddr_storage& out) const;
  // Sends one datagram now (handshakes, raw NAT helper traffic).
  status send_to(std::span<const uint8_t> data, const net::endpoint& ep) const;

 public:
  udp_socket(udp_socket&& o) noexcept
      : fd_(std::move(o.fd_)), port_(o.port_), v6_(o.v6_), gso_(o.gso_), gro_(o.gro_),
        gso_broken_(o.gso_broken_.load()) {}
  udp_socket& operator=(udp_socket&& o) noexcept {
    fd_ = std::move(o.fd_);
    port_ = o.port_;
    v6_ = o.v6_;
    gso_ = o.gso_;
    gro_ = o.gro_;
    gso_broken_ = o.gso_broken_.load();
    return *this;
  }

 private:
  udp_socket(unique_fd fd, uint16_t port, bool v6) : fd_(std::move(fd)), port_(port), v6_(v6) {}
  unique_fd fd_;
  uint16_t port_ = 0;
  bool v6_ = true;
  bool gso_ = false, gro_ = false;
  mutable std::atomic<bool> gso_broken_{false};  // set by the tun->udp thread, read by anyone
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
//
// Failures of a train (flush):
//   EIO              the route's device cannot segment: the train is resent
//                    as single datagrams and gso_failed() turns true (the
//                    caller turns GSO off for the socket: udp_socket::disable_gso)
//   EMSGSIZE, EINVAL the train is too big for the path or the kernel: resent
//                    as single datagrams (each then fails or passes alone)
//   EAGAIN, ENOBUFS  waits for space at most tx_stall_max_waits times per
//                    flush, then drops the rest
//   anything else    that message is dropped (unreachable...)
class send_batch {
 public:
  static constexpr size_t max_datagrams = 2 * udp_batch_capacity;
  explicit send_batch(bool gso = false, socket_calls& sys = system_socket_calls())
      : gso_(gso), sys_(&sys) {}
  // Only while empty (the socket, and what it supports, may change).
  void set_gso(bool on) noexcept { gso_ = on; }
  // A train failed with EIO since the last call; clears the flag.
  bool take_gso_failed() noexcept { return std::exchange(gso_failed_, false); }

  bool full() const noexcept { return n_iov_ == max_datagrams || n_msg_ == udp_batch_capacity; }
  bool empty() const noexcept { return n_iov_ == 0; }
  size_t size() const noexcept { return n_iov_; }  // datagrams
  void add(const uint8_t* data, size_t len, const sockaddr_storage& dst, socklen_t dst_len) noexcept;
  // Sends everything queued (several sendmmsg calls if the kernel takes a
  // part); returns how many datagrams could not be sent. Empties the batch.
  size_t flush(int fd) noexcept;

 private:
  bool extends_last(size_t len, const sockaddr_storage& dst, socklen_t dst_len) const noexcept;
  // Sends message i's datagrams one sendmsg at a time; returns the failures.
  size_t send_singly(int fd, size_t i, int& waits) noexcept;

  bool gso_;
  bool gso_failed_ = false;
  socket_calls* sys_;
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
