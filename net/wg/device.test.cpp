// Device control API and the NAT hook on a real TUN + UDP socket (needs
// root for the TUN; skipped otherwise). The data path is covered by the
// system tests (tests/system/wg_*.sh).
#include <doctest/doctest.h>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "net/netlink/addr.hpp"
#include "net/wg/device.hpp"

using namespace overlayd;
using namespace overlayd::wg;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<device> make_device() {
  device_options o;
  o.name = "wgt" + std::to_string(::getpid() % 100000);
  o.uapi_dir = "";
  o.configure_link = false;
  auto d = device::create(o);
  REQUIRE(d.ok());
  return std::move(*d);
}

}  // namespace

TEST_CASE("the control API adds, updates and removes peers and reports them") {
  if (::geteuid() != 0) return;  // needs CAP_NET_ADMIN for the TUN
  auto d = make_device();
  CHECK(d->listen_port() != 0);
  auto sk = crypto::generate_private_key();
  REQUIRE(d->set_private_key(secret_key(sk.span())).ok());
  CHECK(d->public_key() == crypto::public_from_private(sk));

  auto peer_sk = crypto::generate_private_key();
  const auto pk = crypto::public_from_private(peer_sk);
  peer_update p;
  p.key = pk;
  p.endpoint = *net::endpoint::parse("127.0.0.1:9");
  p.allowed_ips = {*net::cidr::parse("10.9.0.2/32")};
  p.persistent_keepalive = 0;
  REQUIRE(d->upsert_peer(p).ok());
  REQUIRE(d->add_allowed_ip(pk, *net::cidr::parse("fd09::2/128")).ok());
  auto st = d->peer(pk);
  REQUIRE(st);
  CHECK(st->endpoint->to_string() == "127.0.0.1:9");
  CHECK(st->allowed_ips.size() == 2);
  CHECK_FALSE(st->last_handshake.has_value());
  CHECK_FALSE(d->check_peer_handshake(pk, std::chrono::system_clock::time_point{}));

  REQUIRE(d->remove_allowed_ip(pk, *net::cidr::parse("10.9.0.2/32")).ok());
  CHECK(d->peer(pk)->allowed_ips.size() == 1);
  CHECK(d->add_allowed_ip(crypto::public_key{}, *net::cidr::parse("10.0.0.1/32")).err().code ==
        errc::not_found);

  // Alias addresses on the TUN, idempotent both ways.
  const auto alias = *net::ip_address::parse("10.9.9.9");
  REQUIRE(d->add_alias(alias).ok());
  REQUIRE(d->add_alias(alias).ok());
  auto nl = netlink::socket::open();
  REQUIRE(nl.ok());
  auto addrs = netlink::list_addresses(*nl, d->name());
  REQUIRE(addrs.ok());
  CHECK(std::count(addrs->begin(), addrs->end(), net::cidr(alias, 32)) == 1);
  REQUIRE(d->remove_alias(alias).ok());
  REQUIRE(d->remove_alias(alias).ok());
  addrs = netlink::list_addresses(*nl, d->name());
  REQUIRE(addrs.ok());
  CHECK(std::count(addrs->begin(), addrs->end(), net::cidr(alias, 32)) == 0);

  auto port = d->set_listen_port(0);
  REQUIRE(port.ok());
  CHECK(*port == d->listen_port());
  CHECK(d->current_status().peers.size() == 1);
  REQUIRE(d->remove_peer(pk).ok());
  CHECK_FALSE(d->peer(pk).has_value());
  CHECK(d->current_status().peers.empty());
}

TEST_CASE("non-WireGuard datagrams reach the foreign handler and send_raw answers from the device port") {
  if (::geteuid() != 0) return;
  auto d = make_device();
  std::atomic<int> seen{0};
  net::endpoint from;
  std::mutex mu;
  d->set_foreign_datagram_handler([&](std::span<const uint8_t> data, const net::endpoint& src) {
    // A STUN header: type, length, magic cookie 0x2112A442 at bytes 4..8.
    if (data.size() >= 8 && data[4] == 0x21 && data[5] == 0x12 && data[6] == 0xa4 && data[7] == 0x42) {
      std::lock_guard lk(mu);
      from = src;
      seen++;
    }
  });
  auto client = udp_socket::bind(0);
  REQUIRE(client.ok());
  const uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  REQUIRE(client->send_to(stun, net::endpoint(*net::ip_address::parse("127.0.0.1"), d->listen_port())).ok());
  for (int i = 0; i < 200 && !seen; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(seen == 1);
  {
    std::lock_guard lk(mu);
    CHECK(from.port() == client->port());
    REQUIRE(d->send_raw(stun, from).ok());
  }
  pollfd p{client->fd(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 2000) == 1);
  recv_batch rb(2048, false);
  auto n = rb.receive(client->fd());
  REQUIRE(n.ok());
  REQUIRE(*n == 1);
  auto src = net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&rb.source(0)));
  CHECK(src.port() == d->listen_port());

  // Garbage that claims to be WireGuard is counted, not handed over.
  const uint8_t bogus[40] = {4, 0, 0, 0, 1, 2, 3, 4};
  REQUIRE(client->send_to(bogus, net::endpoint(*net::ip_address::parse("127.0.0.1"), d->listen_port())).ok());
  const uint8_t short_init[50] = {1, 0, 0, 0};
  REQUIRE(client->send_to(short_init, net::endpoint(*net::ip_address::parse("127.0.0.1"), d->listen_port())).ok());
  for (int i = 0; i < 200 && d->counters().rx_unauthenticated + d->counters().rx_malformed < 2; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(d->counters().rx_unauthenticated == 1);
  CHECK(d->counters().rx_malformed == 1);
  CHECK(seen == 1);
}
