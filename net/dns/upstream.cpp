#include "net/dns/upstream.hpp"

#include <sys/random.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "net/dns/limits.hpp"
#include "net/dns/resolver.hpp"
#include "net/dns/socket.hpp"

namespace overlayd::net::dns {

namespace {

uint16_t random_id() {
  uint16_t id = 0;
  if (getrandom(&id, sizeof id, 0) != sizeof id)
    id = static_cast<uint16_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return id;
}

result<unique_fd> connect_to(const endpoint& up, int type, int stop_fd, deadline until) {
  unique_fd fd(::socket(up.ip().is_v4() ? AF_INET : AF_INET6, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return system_error("socket for upstream", up.to_string(), errno);
  sockaddr_storage ss{};
  socklen_t len = up.to_sockaddr(ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return system_error("connect to upstream", up.to_string(), errno);
    auto w = wait_fd(fd.get(), true, stop_fd, until);
    if (w == wait_result::stopped) return error(errc::precondition, "DNS server stopping");
    if (w != wait_result::ready) return error(errc::timeout, "upstream " + up.to_string() + ": connect timed out");
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) return system_error("connect to upstream", up.to_string(), err);
  }
  return fd;
}

result<std::vector<uint8_t>> over_udp(const message& query, const endpoint& up, int stop_fd,
                                      deadline until) {
  auto fd = connect_to(up, SOCK_DGRAM, stop_fd, until);
  if (!fd) return std::move(fd).err();
  message m = query;
  m.hdr.id = random_id();
  // We read at most udp_payload_max octets; TC and TCP cover the rest.
  if (m.opt) m.opt->udp_payload = std::min<uint16_t>(m.opt->udp_payload, limits::udp_payload_max);
  auto wire = serialize(m);
  if (::send(fd->get(), wire.data(), wire.size(), 0) < 0)
    return system_error("send to upstream", up.to_string(), errno);
  std::vector<uint8_t> buf(limits::udp_payload_max);
  for (;;) {
    auto w = wait_fd(fd->get(), false, stop_fd, until);
    if (w == wait_result::stopped) return error(errc::precondition, "DNS server stopping");
    if (w != wait_result::ready) return error(errc::timeout, "upstream " + up.to_string() + " did not answer");
    ssize_t n = ::recv(fd->get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return system_error("receive from upstream", up.to_string(), errno);
    }
    auto h = parse_header(std::span(buf.data(), static_cast<size_t>(n)));
    if (!h || h->id != m.hdr.id) continue;  // stray datagram: keep waiting
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
}

result<std::vector<uint8_t>> over_tcp(const message& query, const endpoint& up, int stop_fd,
                                      deadline until) {
  auto fd = connect_to(up, SOCK_STREAM, stop_fd, until);
  if (!fd) return std::move(fd).err();
  message m = query;
  m.hdr.id = random_id();
  m.opt.reset();  // no UDP size on TCP
  OVERLAYD_TRY(write_framed(fd->get(), serialize(m), stop_fd, until));
  auto reply = read_framed(fd->get(), stop_fd, until);
  if (!reply) return reply;
  auto h = parse_header(*reply);
  if (!h || h->id != m.hdr.id) return error(errc::protocol, "upstream " + up.to_string() + ": reply id mismatch");
  return reply;
}

}  // namespace

result<std::vector<uint8_t>> exchange_with_upstreams(const message& query,
                                                     const std::vector<endpoint>& upstreams,
                                                     std::chrono::milliseconds timeout,
                                                     size_t max_reply, int stop_fd) {
  error last(errc::precondition, "no DNS upstream configured");
  for (const auto& up : upstreams) {
    auto until = std::chrono::steady_clock::now() + timeout;
    auto reply = over_udp(query, up, stop_fd, until);
    if (reply) {
      auto h = parse_header(*reply);
      if (h && h->tc) reply = over_tcp(query, up, stop_fd, until);
    }
    if (!reply) {
      if (reply.err().code == errc::precondition) return reply;  // stopping
      last = std::move(reply).err();
      continue;
    }
    auto out = relay_reply(*reply, query, max_reply);
    if (out.empty()) {
      last = error(errc::protocol, "upstream " + up.to_string() + ": reply does not match the query");
      continue;
    }
    return out;
  }
  return last;
}

}  // namespace overlayd::net::dns
