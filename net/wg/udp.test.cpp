#include <doctest/doctest.h>

#include <poll.h>

#include <cstring>
#include <functional>
#include <optional>

#include "net/wg/udp.hpp"

using namespace overlayd;
using namespace overlayd::wg;

TEST_CASE("a UDP socket on port 0 reports the port the kernel chose") {
  auto s = udp_socket::bind(0);
  REQUIRE(s.ok());
  CHECK(s->port() != 0);
  auto again = udp_socket::bind(s->port());
  REQUIRE_FALSE(again.ok());
  CHECK(again.err().sys_errno == EADDRINUSE);
}

TEST_CASE("a send batch delivers every datagram to a recv batch over loopback, v4 and v6") {
  auto a = udp_socket::bind(0);
  auto b = udp_socket::bind(0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  for (const char* host : {"127.0.0.1", "::1"}) {
    CAPTURE(host);
    net::endpoint dst(*net::ip_address::parse(host), b->port());
    sockaddr_storage ss;
    auto len = a->to_sockaddr(dst, ss);
    REQUIRE(len.ok());
    std::vector<std::array<uint8_t, 100>> payloads(udp_batch_capacity);
    send_batch sb;
    for (size_t i = 0; i < payloads.size(); ++i) {
      payloads[i].fill(static_cast<uint8_t>(i));
      sb.add(payloads[i].data(), 10 + i, ss, *len);
    }
    CHECK(sb.full());
    CHECK(sb.flush(a->fd()) == 0);
    CHECK(sb.empty());
    recv_batch rb(2048, false);
    size_t got = 0;
    for (int tries = 0; got < payloads.size() && tries < 100; ++tries) {
      pollfd p{b->fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      auto n = rb.receive(b->fd());
      REQUIRE(n.ok());
      for (size_t i = 0; i < *n; ++i, ++got) {
        CHECK(rb.data(i).size() == 10 + got);
        CHECK(rb.data(i)[0] == static_cast<uint8_t>(got));
        auto src = net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&rb.source(i)));
        CHECK(src.port() == a->port());
        CHECK(src.ip().to_string() == host);
      }
    }
    CHECK(got == payloads.size());
  }
}

TEST_CASE("a receive with nothing queued returns zero datagrams") {
  auto a = udp_socket::bind(0);
  REQUIRE(a.ok());
  recv_batch rb(2048, false);
  auto n = rb.receive(a->fd());
  REQUIRE(n.ok());
  CHECK(*n == 0);
}

TEST_CASE("GSO trains arrive as separate datagrams, with and without GRO on the receiver") {
  auto a = udp_socket::bind(0, 0, true);
  REQUIRE(a.ok());
  if (!a->gso()) return;  // kernel without UDP_SEGMENT
  for (bool gro : {false, true}) {
    CAPTURE(gro);
    auto b = udp_socket::bind(0, 0, gro);
    REQUIRE(b.ok());
    net::endpoint dst(*net::ip_address::parse("127.0.0.1"), b->port());
    sockaddr_storage ss;
    auto len = a->to_sockaddr(dst, ss);
    REQUIRE(len.ok());
    // 40 datagrams of 1000 bytes, a 300-byte one (ends the train), then 20 more.
    std::vector<std::vector<uint8_t>> sent;
    for (size_t i = 0; i < 61; ++i) sent.emplace_back(i == 40 ? 300 : 1000, uint8_t(i));
    send_batch sb(true);
    for (const auto& d : sent) sb.add(d.data(), d.size(), ss, *len);
    CHECK(sb.flush(a->fd()) == 0);
    recv_batch rb(2048, gro);
    size_t got = 0;
    for (int tries = 0; got < sent.size() && tries < 100; ++tries) {
      pollfd p{b->fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      auto n = rb.receive(b->fd());
      REQUIRE(n.ok());
      for (size_t i = 0; i < *n; ++i) {
        const size_t total = rb.data(i).size(), seg = rb.segment_size(i);
        for (size_t off = 0; off < total; off += seg, ++got) {
          REQUIRE(got < sent.size());
          CHECK(std::min(seg, total - off) == sent[got].size());
          CHECK(rb.buffer(i)[off] == uint8_t(got));
        }
      }
    }
    CHECK(got == sent.size());
  }
}

// ---------------------------------------------------------------- injected failures

namespace {

// Behaves as sendmmsg would if the kernel refused every message `fail`
// names an errno for: the messages before the first refused one go to the
// kernel; a refused first message fails the call. Counts what it saw.
struct scripted_calls final : socket_calls {
  std::function<int(const mmsghdr&)> fail = [](const mmsghdr&) { return 0; };
  int calls = 0, gso_calls = 0, waits = 0;
  int sendmmsg(int fd, mmsghdr* msgs, unsigned n) override {
    ++calls;
    unsigned ok = 0;
    int e = 0;
    for (; ok < n; ++ok) {
      if (msgs[ok].msg_hdr.msg_controllen) ++gso_calls;
      if ((e = fail(msgs[ok]))) break;
    }
    if (ok == 0) {
      errno = e;
      return -1;
    }
    return system_socket_calls().sendmmsg(fd, msgs, ok);
  }
  void wait_writable(int, std::chrono::milliseconds) override { ++waits; }
};

bool is_train(const mmsghdr& m) { return m.msg_hdr.msg_controllen != 0; }

// Receives until `want` datagrams arrived (or 100 quiet polls); returns the count.
size_t receive_all(const udp_socket& b, size_t want) {
  recv_batch rb(2048, false);
  size_t got = 0;
  for (int tries = 0; got < want && tries < 100; ++tries) {
    pollfd p{b.fd(), POLLIN, 0};
    ::poll(&p, 1, 20);
    auto n = rb.receive(b.fd());
    REQUIRE(n.ok());
    got += *n;
  }
  return got;
}

struct gso_pair {
  udp_socket a, b;
  sockaddr_storage ss{};
  socklen_t len = 0;
};
std::optional<gso_pair> make_pair() {
  auto a = udp_socket::bind(0, 0, true);
  auto b = udp_socket::bind(0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  if (!a->gso()) return std::nullopt;  // kernel without UDP_SEGMENT
  gso_pair p{std::move(*a), std::move(*b)};
  auto len = p.a.to_sockaddr(net::endpoint(*net::ip_address::parse("127.0.0.1"), p.b.port()), p.ss);
  REQUIRE(len.ok());
  p.len = *len;
  return p;
}

}  // namespace

TEST_CASE("a GSO train failing with EIO is resent as single datagrams and GSO goes off for the socket") {
  auto p = make_pair();
  if (!p) return;
  scripted_calls sys;
  sys.fail = [](const mmsghdr& m) { return is_train(m) ? EIO : 0; };
  std::vector<std::vector<uint8_t>> d(30, std::vector<uint8_t>(1000, 7));
  send_batch sb(p->a.gso(), sys);
  for (const auto& x : d) sb.add(x.data(), x.size(), p->ss, p->len);
  CHECK(sb.flush(p->a.fd()) == 0);
  CHECK(sb.take_gso_failed());
  CHECK_FALSE(sb.take_gso_failed());  // reported once
  CHECK(receive_all(p->b, d.size()) == d.size());
  // The device turns it off for the socket, once (it logs on true).
  CHECK(p->a.disable_gso());
  CHECK_FALSE(p->a.disable_gso());
  CHECK_FALSE(p->a.gso());
  // The next batch of the device (set_gso(udp.gso())) sends no trains.
  sys.gso_calls = 0;
  sb.set_gso(p->a.gso());
  for (const auto& x : d) sb.add(x.data(), x.size(), p->ss, p->len);
  CHECK(sb.flush(p->a.fd()) == 0);
  CHECK(sys.gso_calls == 0);
  CHECK(receive_all(p->b, d.size()) == d.size());
}

TEST_CASE("a GSO train refused with EMSGSIZE or EINVAL is resent as single datagrams; GSO stays on") {
  for (int e : {EMSGSIZE, EINVAL}) {
    CAPTURE(e);
    auto p = make_pair();
    if (!p) return;
    scripted_calls sys;
    sys.fail = [e](const mmsghdr& m) { return is_train(m) ? e : 0; };
    std::vector<std::vector<uint8_t>> d(20, std::vector<uint8_t>(1200, 9));
    send_batch sb(true, sys);
    for (const auto& x : d) sb.add(x.data(), x.size(), p->ss, p->len);
    CHECK(sb.flush(p->a.fd()) == 0);
    CHECK_FALSE(sb.take_gso_failed());
    CHECK(p->a.gso());
    CHECK(sys.gso_calls == 1);
    CHECK(receive_all(p->b, d.size()) == d.size());
  }
}

TEST_CASE("a datagram refused on its own is counted as failed and the rest still go") {
  auto p = make_pair();
  if (!p) return;
  scripted_calls sys;
  // Every train fails EMSGSIZE; of the singles, the 1000-byte ones fail too.
  sys.fail = [](const mmsghdr& m) {
    return is_train(m) || m.msg_hdr.msg_iov[0].iov_len == 1000 ? EMSGSIZE : 0;
  };
  std::vector<std::vector<uint8_t>> d;
  for (size_t i = 0; i < 10; ++i) d.emplace_back(i % 2 ? 1000 : 500, 1);
  send_batch sb(true, sys);
  for (const auto& x : d) sb.add(x.data(), x.size(), p->ss, p->len);
  CHECK(sb.flush(p->a.fd()) == 5);
  CHECK(receive_all(p->b, 5) == 5);
}

TEST_CASE("persistent EAGAIN stalls a flush for a bounded number of short waits, then drops") {
  auto p = make_pair();
  if (!p) return;
  scripted_calls sys;
  sys.fail = [](const mmsghdr&) { return EAGAIN; };
  std::vector<uint8_t> x(100, 1);
  send_batch sb(false, sys);
  for (int i = 0; i < 50; ++i) sb.add(x.data(), x.size(), p->ss, p->len);
  CHECK(sb.flush(p->a.fd()) == 50);
  CHECK(sb.empty());
  CHECK(sys.waits == tx_stall_max_waits);
  CHECK(tx_stall_max_waits * tx_stall_wait <= std::chrono::milliseconds(50));
  // ENOBUFS is the same, and a wait that frees space lets the batch through.
  int left = 2;
  sys.waits = 0;
  sys.fail = [&left](const mmsghdr&) { return left-- > 0 ? ENOBUFS : 0; };
  for (int i = 0; i < 50; ++i) sb.add(x.data(), x.size(), p->ss, p->len);
  CHECK(sb.flush(p->a.fd()) == 0);
  CHECK(sys.waits == 2);
  CHECK(receive_all(p->b, 50) == 50);
}
