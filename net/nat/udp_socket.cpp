#include "net/nat/udp_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace overlayd::net::nat {

udp_socket::~udp_socket() {
  if (fd_ >= 0) ::close(fd_);
}

udp_socket::udp_socket(udp_socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

udp_socket& udp_socket::operator=(udp_socket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

result<udp_socket> udp_socket::bind(const endpoint& local) {
  int fam = local.ip().is_v4() ? AF_INET : AF_INET6;
  int fd = ::socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return system_error("socket", local.to_string(), errno);
  udp_socket s(fd);
  sockaddr_storage ss{};
  socklen_t len = local.to_sockaddr(ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return system_error("bind", local.to_string(), errno);
  return s;
}

status udp_socket::send_to(const endpoint& to, byte_span data) const {
  sockaddr_storage ss{};
  socklen_t len = to.to_sockaddr(ss);
  if (::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0)
    return system_error("sendto", to.to_string(), errno);
  return {};
}

result<std::optional<udp_socket::received>> udp_socket::receive(std::chrono::milliseconds timeout) const {
  pollfd p{fd_, POLLIN, 0};
  int n = ::poll(&p, 1, int(timeout.count()));
  if (n < 0) {
    if (errno == EINTR) return std::optional<received>{};
    return system_error("poll", "udp socket", errno);
  }
  if (n == 0) return std::optional<received>{};
  received r;
  r.data.resize(65536);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ssize_t got = ::recvfrom(fd_, r.data.data(), r.data.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
  if (got < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED) return std::optional<received>{};
    return system_error("recvfrom", "udp socket", errno);
  }
  r.data.resize(size_t(got));
  r.from = endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  return std::optional<received>{std::move(r)};
}

result<endpoint> udp_socket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return system_error("getsockname", "udp socket", errno);
  return endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace overlayd::net::nat
