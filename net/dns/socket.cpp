#include "net/dns/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace overlayd::net::dns {

namespace {
result<unique_fd> open_bound(const endpoint& ep, int type) {
  int domain = ep.ip().is_v4() ? AF_INET : AF_INET6;
  unique_fd fd(::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return system_error("socket for", ep.to_string(), errno);
  int one = 1;
  if (domain == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = ep.to_sockaddr(ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return system_error(type == SOCK_STREAM ? "bind TCP" : "bind UDP", ep.to_string(), errno);
  return fd;
}
}  // namespace

result<unique_fd> open_udp(const endpoint& ep) { return open_bound(ep, SOCK_DGRAM); }

result<unique_fd> open_tcp_listener(const endpoint& ep) {
  auto fd = open_bound(ep, SOCK_STREAM);
  if (!fd) return fd;
  if (::listen(fd->get(), 64) != 0) return system_error("listen on", ep.to_string(), errno);
  return fd;
}

result<endpoint> local_endpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return system_error("getsockname", "DNS socket", errno);
  return endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

result<unique_fd> open_stop_event() {
  unique_fd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return system_error("eventfd", "DNS server stop", errno);
  return fd;
}

void signal_stop(int event_fd) {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(event_fd, &one, sizeof one);
}

status enable_pktinfo(int fd, family fam) {
  int one = 1;
  int rc = fam == family::v4 ? ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one)
                             : ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  if (rc != 0) return system_error("setsockopt PKTINFO", "DNS socket", errno);
  return {};
}

local_dst read_pktinfo(const msghdr& msg) {
  local_dst d;
  for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      uint32_t a = ntohl(pi.ipi_addr.s_addr);
      d = {true, ip_address::v4(a), static_cast<uint32_t>(pi.ipi_ifindex)};
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      std::array<uint8_t, 16> b{};
      std::memcpy(b.data(), &pi.ipi6_addr, 16);
      d = {true, ip_address::v6(b), pi.ipi6_ifindex};
    }
  }
  return d;
}

size_t write_pktinfo(const local_dst& src, uint8_t* control) {
  if (!src.set) return 0;
  std::memset(control, 0, pktinfo_space);
  msghdr msg{};
  msg.msg_control = control;
  msg.msg_controllen = pktinfo_space;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (src.addr.is_v4()) {
    in_pktinfo pi{};
    pi.ipi_spec_dst.s_addr = htonl(src.addr.v4_host_order());  // source of the reply
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    return CMSG_SPACE(sizeof pi);
  }
  in6_pktinfo pi{};
  std::memcpy(&pi.ipi6_addr, src.addr.data(), 16);
  pi.ipi6_ifindex = src.ifindex;  // needed for link-local sources
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof pi);
  std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
  return CMSG_SPACE(sizeof pi);
}

void send_datagram(int fd, std::span<const uint8_t> data, const endpoint& to, const local_dst& src) {
  sockaddr_storage ss{};
  socklen_t len = to.to_sockaddr(ss);
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  alignas(cmsghdr) uint8_t control[pktinfo_space];
  msghdr msg{};
  msg.msg_name = &ss;
  msg.msg_namelen = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (size_t n = write_pktinfo(src, control)) {
    msg.msg_control = control;
    msg.msg_controllen = n;
  }
  ::sendmsg(fd, &msg, MSG_DONTWAIT);
}

wait_result wait_fd(int fd, bool for_write, int stop_fd, deadline until) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return wait_result::timeout;
    pollfd p[2] = {{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0}, {stop_fd, POLLIN, 0}};
    int n = ::poll(p, stop_fd >= 0 ? 2 : 1, static_cast<int>(std::min<int64_t>(left.count() + 1, 60000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      return wait_result::error;
    }
    if (n == 0) continue;  // re-check the deadline
    if (stop_fd >= 0 && (p[1].revents & POLLIN)) return wait_result::stopped;
    if (p[0].revents) return wait_result::ready;  // incl. HUP/ERR: the next call reports it
  }
}

namespace {
error wait_error(wait_result w, const char* what) {
  if (w == wait_result::timeout) return error(errc::timeout, std::string("DNS TCP ") + what + ": timed out");
  if (w == wait_result::stopped) return error(errc::precondition, std::string("DNS TCP ") + what + ": server stopping");
  return system_error("poll", std::string("DNS TCP ") + what, errno);
}
}  // namespace

status read_exact(int fd, std::span<uint8_t> out, int stop_fd, deadline until) {
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::recv(fd, out.data() + got, out.size() - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return error(errc::protocol, "DNS TCP read: peer closed mid-message");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return system_error("recv", "DNS TCP", errno);
    if (auto w = wait_fd(fd, false, stop_fd, until); w != wait_result::ready) return wait_error(w, "read");
  }
  return {};
}

status write_all(int fd, std::span<const uint8_t> data, int stop_fd, deadline until) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return system_error("send", "DNS TCP", errno);
    if (auto w = wait_fd(fd, true, stop_fd, until); w != wait_result::ready) return wait_error(w, "write");
  }
  return {};
}

result<std::vector<uint8_t>> read_framed(int fd, int stop_fd, deadline until) {
  uint8_t len_buf[2];
  // First octet: EOF here is a clean close, not an error.
  for (;;) {
    ssize_t n = ::recv(fd, len_buf, 1, 0);
    if (n == 1) break;
    if (n == 0) return std::vector<uint8_t>{};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return system_error("recv", "DNS TCP", errno);
    if (auto w = wait_fd(fd, false, stop_fd, until); w != wait_result::ready) return wait_error(w, "read");
  }
  OVERLAYD_TRY(read_exact(fd, std::span<uint8_t>(len_buf + 1, 1), stop_fd, until));
  size_t len = (size_t{len_buf[0]} << 8) | len_buf[1];
  if (len == 0) return error(errc::protocol, "DNS TCP: zero-length message");
  std::vector<uint8_t> msg(len);
  OVERLAYD_TRY(read_exact(fd, msg, stop_fd, until));
  return msg;
}

status write_framed(int fd, std::span<const uint8_t> msg, int stop_fd, deadline until) {
  if (msg.size() > 0xFFFF) return error(errc::internal, "DNS TCP: message over 65535 octets");
  std::vector<uint8_t> buf;
  buf.reserve(msg.size() + 2);
  buf.push_back(static_cast<uint8_t>(msg.size() >> 8));
  buf.push_back(static_cast<uint8_t>(msg.size()));
  buf.insert(buf.end(), msg.begin(), msg.end());
  return write_all(fd, buf, stop_fd, until);
}

}  // namespace overlayd::net::dns
