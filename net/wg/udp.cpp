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
  // Bounded: each round either sends >= 1 message, skips one, or waits
  // (briefly) for buffer space.
  for (int rounds = 0; done < n_msg_ && rounds < 4 * static_cast<int>(udp_batch_capacity); ++rounds) {
    int r = ::sendmmsg(fd, msgs_.data() + done, static_cast<unsigned>(n_msg_ - done), 0);
    if (r > 0) {
      done += static_cast<size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 10);
      continue;
    }
    failed += trains_[done].count;  // refused (unreachable, too big): skip it
    ++done;
  }
  for (size_t i = done; i < n_msg_; ++i) failed += trains_[i].count;
  n_msg_ = 0;
  n_iov_ = 0;
  return failed;
}

}  // namespace overlayd::wg
