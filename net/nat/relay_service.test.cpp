#include "net/nat/relay_service.hpp"

#include <doctest/doctest.h>

#include <thread>

#include "net/nat/relay_client.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;
using wall = std::chrono::system_clock;

namespace {

// One relay client on its own loopback socket.
struct node {
  udp_socket sock;
  std::unique_ptr<relay_client> client;
  std::vector<bytes> got;

  void pump() {
    for (const auto& d : client->poll(wall::now())) (void)sock.send_to(d.to, d.data);
    auto r = sock.receive(5ms);
    if (r && *r)
      if (auto p = client->on_datagram((*r)->from, (*r)->data, wall::now())) got.push_back(p->payload);
  }
};

}  // namespace

TEST_CASE("the relay service pairs two loopback clients and forwards between them") {
  auto svc = relay_service::start(endpoint::parse("127.0.0.1:0").value(), {ip_address{}, 0, 4, "cred"});
  REQUIRE(svc.ok());
  CHECK(svc->local().ip() == ip_address::parse("127.0.0.1").value());
  std::atomic<bool> stop{false};
  std::thread t([&] { (void)svc->run(stop, 20ms); });

  auto make = [&] {
    node n{std::move(udp_socket::bind(endpoint::parse("127.0.0.1:0").value()).value()),
           std::make_unique<relay_client>(relay_client_options{svc->local(), "cred", 60s, 50ms}), {}};
    n.client->start(wall::now());
    return n;
  };
  node a = make(), b = make();
  for (int i = 0; i < 200 && !(a.client->relayed_endpoint() && b.client->relayed_endpoint()); ++i) a.pump(), b.pump();
  REQUIRE(a.client->state() == relay_client_state::allocated);
  REQUIRE(b.client->state() == relay_client_state::allocated);
  auto ra = *a.client->relayed_endpoint(), rb = *b.client->relayed_endpoint();
  REQUIRE(a.client->bind_peer(rb, wall::now()).ok());
  REQUIRE(b.client->bind_peer(ra, wall::now()).ok());
  for (int i = 0; i < 200 && !(a.client->paired(rb) && b.client->paired(ra)); ++i) a.pump(), b.pump();
  REQUIRE(a.client->paired(rb));
  auto f = a.client->wrap(rb, bytes{4, 0, 0, 0, 7});
  REQUIRE(f);
  REQUIRE(a.sock.send_to(f->to, f->data).ok());
  for (int i = 0; i < 100 && b.got.empty(); ++i) b.pump();
  REQUIRE(b.got.size() == 1);
  CHECK(b.got[0] == bytes{4, 0, 0, 0, 7});

  stop = true;
  t.join();
  CHECK(svc->server().stats().forwarded == 1);
  CHECK(svc->server().session_count() == 2);
}
