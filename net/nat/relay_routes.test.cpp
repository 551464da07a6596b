// relay_routes: the device's relay hook for our relay's data frames and TURN
// ChannelData (the round trip through a real relay_server is in
// nat_traversal.test.cpp).
#include "net/nat/relay_routes.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "net/nat/relay_protocol.hpp"
#include "net/nat/turn_client.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;

namespace {
endpoint ep(const char* s) { return endpoint::parse(s).value(); }
const endpoint relay_srv = ep("198.51.100.1:3490"), turn_srv = ep("198.51.100.2:3478");
const bytes wg_packet{0x04, 0, 0, 0, 1, 2, 3};

relay_route ours(const char* peer, uint32_t session = 7, uint64_t token = 0x1122334455667788) {
  relay_route r;
  r.how = relay_route::kind::ours;
  r.peer = ep(peer);
  r.server = relay_srv;
  r.session_id = session;
  r.token = token;
  return r;
}
relay_route turn(const char* peer, uint16_t channel) {
  relay_route r;
  r.how = relay_route::kind::turn;
  r.peer = ep(peer);
  r.server = turn_srv;
  r.channel = channel;
  return r;
}
bytes inner(const bytes& d, const overlayd::wg::relay_hook::unwrapped& u) {
  return bytes(d.begin() + long(u.offset), d.begin() + long(u.offset + u.len));
}
}  // namespace

TEST_CASE("relay_routes frames packets for routed peers only") {
  relay_routes r;
  std::vector<uint8_t> frame{9, 9};
  endpoint server;
  CHECK_FALSE(r.relays(ep("198.51.100.1:50000")));
  CHECK_FALSE(r.wrap(ep("198.51.100.1:50000"), wg_packet, frame, server));
  CHECK(frame == bytes{9, 9});  // untouched

  r.set({ours("198.51.100.1:50000"), turn("198.51.100.2:49160", 0x4001)});
  REQUIRE(r.wrap(ep("198.51.100.1:50000"), wg_packet, frame, server));
  CHECK(server == relay_srv);
  auto f = relay::decode_data(frame);
  REQUIRE(f);
  CHECK(f->peer_port == 50000);  // the destination session's port
  CHECK(f->session_id == 7);
  CHECK(f->token == 0x1122334455667788);
  CHECK(bytes(f->payload.begin(), f->payload.end()) == wg_packet);

  REQUIRE(r.wrap(ep("198.51.100.2:49160"), wg_packet, frame, server));
  CHECK(server == turn_srv);
  auto cd = decode_channel_data(frame);
  REQUIRE(cd);
  CHECK(cd->channel == 0x4001);
  CHECK(bytes(cd->payload.begin(), cd->payload.end()) == wg_packet);

  // Same IP, another port: a direct address, not relayed.
  CHECK_FALSE(r.relays(ep("198.51.100.1:50001")));
  r.set({});
  CHECK_FALSE(r.relays(ep("198.51.100.1:50000")));
}

TEST_CASE("relay_routes unwraps frames from the relay for bound peers only") {
  relay_routes r;
  r.set({ours("198.51.100.1:50000"), turn("198.51.100.2:49160", 0x4001)});

  // relay -> client: source session's port, our session id and token.
  auto d = relay::encode_data(50000, 7, 0x1122334455667788, wg_packet);
  auto u = r.unwrap(d, relay_srv);
  REQUIRE(u);
  CHECK(u->from == ep("198.51.100.1:50000"));
  CHECK(u->offset == relay::data_header_size);
  CHECK(inner(d, *u) == wg_packet);
  CHECK_FALSE(r.unwrap(d, ep("198.51.100.1:3491")));                                  // not from the relay
  CHECK_FALSE(r.unwrap(relay::encode_data(50001, 7, 0x1122334455667788, wg_packet), relay_srv));  // unbound port
  CHECK_FALSE(r.unwrap(relay::encode_data(50000, 8, 0x1122334455667788, wg_packet), relay_srv));  // other session
  CHECK_FALSE(r.unwrap(relay::encode_data(50000, 7, 0x1122334455667789, wg_packet), relay_srv));  // wrong token

  auto c = encode_channel_data(0x4001, wg_packet);
  u = r.unwrap(c, turn_srv);
  REQUIRE(u);
  CHECK(u->from == ep("198.51.100.2:49160"));
  CHECK(u->offset == 4);
  CHECK(inner(c, *u) == wg_packet);
  c.push_back(0);  // UDP padding after the data is allowed
  CHECK(r.unwrap(c, turn_srv));
  CHECK_FALSE(r.unwrap(encode_channel_data(0x4002, wg_packet), turn_srv));  // unbound channel
  CHECK_FALSE(r.unwrap(encode_channel_data(0x4001, wg_packet), relay_srv));  // not from the TURN server

  // Neither a frame nor ChannelData (a STUN header), and empty input.
  const bytes stun{0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  CHECK_FALSE(r.unwrap(stun, turn_srv));
  CHECK_FALSE(r.unwrap(bytes{}, relay_srv));
}

TEST_CASE("relay_routes holds at most max_routes") {
  std::vector<relay_route> many;
  for (size_t i = 0; i < relay_routes::max_routes + 10; ++i)
    many.push_back(ours(("198.51.100.1:" + std::to_string(1000 + i)).c_str()));
  relay_routes r;
  r.set(many);
  CHECK(r.routes().size() == relay_routes::max_routes);
}

// The orchestrator republishes the table while the device's two I/O threads
// wrap and unwrap through it (for ThreadSanitizer, tests/tsan_tests).
TEST_CASE("relay_routes: the table is replaced while two threads wrap and unwrap") {
  relay_routes r;
  std::atomic<bool> stop{false};
  std::atomic<int> wrapped{0};
  auto reader = [&] {
    std::vector<uint8_t> frame;
    endpoint server;
    for (int i = 0; i < 20000 && !stop; ++i) {
      if (r.wrap(ep("198.51.100.1:50000"), wg_packet, frame, server)) {
        ++wrapped;
        (void)r.unwrap(frame, server);
      }
      (void)r.relays(ep("198.51.100.2:49160"));
    }
  };
  std::thread tx(reader), rx(reader);
  for (uint32_t i = 0; i < 500; ++i)
    r.set(i % 2 ? std::vector<relay_route>{ours("198.51.100.1:50000", i), turn("198.51.100.2:49160", 0x4001)}
                : std::vector<relay_route>{});
  r.set({ours("198.51.100.1:50000")});
  stop = true;
  tx.join();
  rx.join();
  CHECK(r.routes().size() == 1);
}
