#include <doctest/doctest.h>

#include <poll.h>

#include <cstring>

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
