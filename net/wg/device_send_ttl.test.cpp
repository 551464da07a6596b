// device::send_raw with a per-datagram TTL (the NAT punch): the receiver sees
// the TTL asked for, and the next plain send_raw the socket's own again.
// Needs root for the TUN; skipped otherwise.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "net/wg/device.hpp"
#include "net/wg/unique_fd.hpp"

using namespace overlayd;

namespace {
// Receives one datagram on `fd` and returns its IP TTL (-1 if none came).
int received_ttl(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) != 1) return -1;
  uint8_t buf[64];
  iovec iov{buf, sizeof buf};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  if (::recvmsg(fd, &m, 0) < 0) return -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
      int ttl;
      std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
      return ttl;
    }
  return -1;
}
}  // namespace

TEST_CASE("send_raw with a TTL sets it on that datagram only") {
  if (::geteuid() != 0) return;
  wg::device_options o;
  o.name = "wgttl" + std::to_string(::getpid() % 10000);
  o.uapi_dir = "";
  o.configure_link = false;
  auto d = wg::device::create(o);
  REQUIRE(d.ok());

  wg::unique_fd rx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(rx.get() >= 0);
  int on = 1;
  REQUIRE(::setsockopt(rx.get(), IPPROTO_IP, IP_RECVTTL, &on, sizeof on) == 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(rx.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(rx.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const net::endpoint to(*net::ip_address::parse("127.0.0.1"), ntohs(a.sin_port));

  const uint8_t punch[] = {0xff, 'p'};
  REQUIRE((*d)->send_raw(punch, to, 2).ok());
  CHECK(received_ttl(rx.get()) == 2);
  REQUIRE((*d)->send_raw(punch, to).ok());
  const int normal = received_ttl(rx.get());
  CHECK(normal > 2);
}
