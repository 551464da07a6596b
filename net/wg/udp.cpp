#include "net/wg/udp.hpp"

#include <netinet/udp.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace overlayd::wg {

namespace {

// Socket buffers large enough to ride out a burst while a thread is busy
// encrypting a batch; FORCE (root) lifts the rmem_max/wmem_max cap.
constexpr int socket_buffer_bytes = 4 << 20;

void grow_buffers(int fd) {
  int sz = socket_buffer_bytes;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

}  // namespace

result<udp_socket> udp_socket::bind(uint16_t port, uint32_t fwmark, bool offload) {
  const std::string what = "udp port " + std::to_string(port);
  bool v6 = true;
  unique_fd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd && errno == EAFNOSUPPORT) {
    v6 = false;
    fd.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  }
  if (!fd) return system_error("socket", what, errno);
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    int off = 0;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0)
      return system_error("setsockopt IPV6_V6ONLY", what, errno);
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_any;
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    len = sizeof *a;
  }
  grow_buffers(fd.get());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return system_error("bind", what, errno);
  len = sizeof ss;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return system_error("getsockname", what, errno);
  uint16_t bound = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  udp_socket s(std::move(fd), bound, v6);
  if (fwmark) OVERLAYD_TRY(s.set_fwmark(fwmark));
  if (offload) {
    // Probes: both options exist since Linux 4.18 / 5.0.
    int zero = 0, one = 1;
    s.gso_ = ::setsockopt(s.fd(), SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
    s.gro_ = ::setsockopt(s.fd(), SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  }
  return s;
}

status udp_socket::set_fwmark(uint32_t mark) {
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0)
    return system_error("setsockopt SO_MARK", "udp port " + std::to_string(port_), errno);
  return {};
}

result<socklen_t> udp_socket::to_sockaddr(const net::endpoint& ep, sockaddr_storage& out) const {
  if (!v6_ && ep.ip().is_v6())
    return error(errc::not_supported, "IPv6 endpoint " + ep.to_string() + " on a v4-only socket");
  return ep.to_sockaddr(out, v6_);
}

status udp_socket::send_to(std::span<const uint8_t> data, const net::endpoint& ep) const {
  sockaddr_storage ss;
  auto len = to_sockaddr(ep, ss);
  if (!len) return len.err();
  for (;;) {
    ssize_t n = ::sendto(fd_.get(), data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), *len);
    if (n >= 0) return {};
    if (errno != EINTR) return system_error("sendto", ep.to_string(), errno);
  }
}

recv_batch::recv_batch(size_t buf_size, bool gro)
    : buf_size_(gro ? 65536 : buf_size), gro_(gro), bufs_(new uint8_t[buf_size_ * udp_batch_capacity]) {
  for (size_t i = 0; i < udp_batch_capacity; ++i) {
    iovs_[i] = {bufs_.get() + i * buf_size_, buf_size_};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_name = &addrs_[i];
  }
}

result<size_t> recv_batch::receive(int fd) {
  for (size_t i = 0; i < udp_batch_capacity; ++i) {
    msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    msgs_[i].msg_hdr.msg_flags = 0;
    msgs_[i].msg_hdr.msg_control = gro_ ? ctl_[i].data() : nullptr;
    msgs_[i].msg_hdr.msg_controllen = gro_ ? sizeof ctl_[i] : 0;
  }
  for (;;) {
    int n = ::recvmmsg(fd, msgs_.data(), udp_batch_capacity, MSG_DONTWAIT, nullptr);
    if (n >= 0) {
      for (int i = 0; i < n; ++i) {
        seg_[i] = msgs_[i].msg_len;
        if (!gro_) continue;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msgs_[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs_[i].msg_hdr, c))
          if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int g = 0;
            std::memcpy(&g, CMSG_DATA(c), sizeof g);
            if (g > 0) seg_[i] = static_cast<size_t>(g);
          }
      }
      return static_cast<size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return size_t{0};
    // ICMP errors surface as ECONNREFUSED etc. on the next call; not fatal.
    if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) continue;
    return system_error("recvmmsg", "udp", errno);
  }
}

bool send_batch::extends_last(size_t len, const sockaddr_storage& dst, socklen_t dst_len) const noexcept {
  if (!gso_ || n_msg_ == 0) return false;
  const train& t = trains_[n_msg_ - 1];
  // UDP_SEGMENT rules: every datagram of the message has the segment size
  // except a shorter last one; at most 64 of them; one UDP payload (< 64 KiB).
  return !t.closed && len <= t.seg && t.count < 64 && t.bytes + len <= 65000 &&
         msgs_[n_msg_ - 1].msg_hdr.msg_namelen == dst_len &&
         std::memcmp(&addrs_[n_msg_ - 1], &dst, dst_len) == 0;
}

void send_batch::add(const uint8_t* data, size_t len, const sockaddr_storage& dst,
                     socklen_t dst_len) noexcept {
  iovs_[n_iov_] = {const_cast<uint8_t*>(data), len};
  if (extends_last(len, dst, dst_len)) {
    train& t = trains_[n_msg_ - 1];
    ++msgs_[n_msg_ - 1].msg_hdr.msg_iovlen;
    t.bytes += len;
    ++t.count;
    t.closed = len < t.seg;
  } else {
    size_t i = n_msg_++;
    addrs_[i] = dst;
    msgs_[i].msg_hdr = {};
    msgs_[i].msg_hdr.msg_iov = &iovs_[n_iov_];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_name = &addrs_[i];
    msgs_[i].msg_hdr.msg_namelen = dst_len;
    trains_[i] = {len, len, 1, false};
  }
  ++n_iov_;
}

namespace {

class real_socket_calls final : public socket_calls {
 public:
  int sendmmsg(int fd, mmsghdr* msgs, unsigned n) override { return ::sendmmsg(fd, msgs, n, 0); }
  void wait_writable(int fd, std::chrono::milliseconds d) override {
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(d.count()));
  }
};

// Every retry loop below ends: each round sends, drops or waits, and the
// waits are counted; this caps the rounds too (EINTR storms).
constexpr int max_rounds = 4 * static_cast<int>(udp_batch_capacity);

bool is_transient(int e) { return e == EAGAIN || e == ENOBUFS; }

}  // namespace

socket_calls& system_socket_calls() noexcept {
  static real_socket_calls calls;
  return calls;
}

size_t send_batch::send_singly(int fd, size_t i, int& waits) noexcept {
  const msghdr& h = msgs_[i].msg_hdr;
  const size_t n = h.msg_iovlen;  // <= 64 (extends_last)
  std::array<mmsghdr, 64> one{};
  for (size_t k = 0; k < n; ++k) {
    one[k].msg_hdr.msg_name = h.msg_name;
    one[k].msg_hdr.msg_namelen = h.msg_namelen;
    one[k].msg_hdr.msg_iov = &h.msg_iov[k];
    one[k].msg_hdr.msg_iovlen = 1;
  }
  size_t done = 0, failed = 0;
  for (int rounds = 0; done < n && rounds < max_rounds; ++rounds) {
    const int r = sys_->sendmmsg(fd, one.data() + done, static_cast<unsigned>(n - done));
    if (r > 0) {
      done += static_cast<size_t>(r);
      continue;
    }
    const int e = r < 0 ? errno : 0;
    if (e == EINTR) continue;
    if (is_transient(e)) {
      if (waits >= tx_stall_max_waits) break;
      ++waits;
      sys_->wait_writable(fd, tx_stall_wait);
      continue;
    }
    ++failed;  // this datagram alone is refused (too big, unreachable)
    ++done;
  }
  return failed + (n - done);
}

size_t send_batch::flush(int fd) noexcept {
  for (size_t i = 0; i < n_msg_; ++i) {
    if (trains_[i].count < 2) continue;
    msghdr& h = msgs_[i].msg_hdr;
    h.msg_control = ctl_[i].data();
    h.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    const uint16_t seg = static_cast<uint16_t>(trains_[i].seg);
    std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
  }
  size_t done = 0, failed = 0;
  int waits = 0;
  for (int rounds = 0; done < n_msg_ && rounds < max_rounds; ++rounds) {
    const int r = sys_->sendmmsg(fd, msgs_.data() + done, static_cast<unsigned>(n_msg_ - done));
    if (r > 0) {
      done += static_cast<size_t>(r);
      continue;
    }
    const int e = r < 0 ? errno : 0;
    if (e == EINTR) continue;
    if (is_transient(e)) {
      // Bounded: a socket that stays full (a peer's path is gone, the qdisc
      // is stuck) costs at most tx_stall_max_waits * tx_stall_wait.
      if (waits >= tx_stall_max_waits) break;
      ++waits;
      sys_->wait_writable(fd, tx_stall_wait);
      continue;
    }
    if (trains_[done].count >= 2 && (e == EIO || e == EMSGSIZE || e == EINVAL)) {
      // EIO: the egress device cannot do UDP segmentation (and the kernel's
      // software fallback refused too); it will not get better, so GSO goes
      // off. EMSGSIZE/EINVAL: this train is too big for the route (a smaller
      // path MTU than when the train was cut) or the kernel's limits; the
      // datagrams alone may still pass.
      if (e == EIO) {
        gso_failed_ = true;
        gso_ = false;
      }
      failed += send_singly(fd, done, waits);
    } else {
      failed += trains_[done].count;  // refused (unreachable, too big): skip it
    }
    ++done;
  }
  for (size_t i = done; i < n_msg_; ++i) failed += trains_[i].count;
  n_msg_ = 0;
  n_iov_ = 0;
  return failed;
}

}  // namespace overlayd::wg
