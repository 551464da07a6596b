#include "net/nat/turn_client.hpp"

#include <doctest/doctest.h>

using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;

namespace {

endpoint ep(const char* s) { return endpoint::parse(s).value(); }
const endpoint server = ep("192.0.2.1:3478");

// A scripted TURN server: answers what the client sends.
struct fake_turn {
  std::array<uint8_t, 16> key = stun_long_term_key("alice", "example.org", "secret");
  std::string nonce = "n1";
  endpoint relayed = ep("192.0.2.1:50000");
  endpoint mapped = ep("203.0.113.7:40000");

  bytes answer(const bytes& wire) {
    auto m = parse_stun(wire).value();
    if (!m.integrity_offset || !m.check_integrity(key) || m.string_attr(stun_attr::nonce) != nonce) {
      return stun_builder(m.method, stun_class::error, m.txn)
          .add_error(m.integrity_offset ? 438 : 401, m.integrity_offset ? "Stale Nonce" : "Unauthorized")
          .add_string(stun_attr::realm, "example.org")
          .add_string(stun_attr::nonce, nonce)
          .finish(std::nullopt, true);
    }
    stun_builder b(m.method, stun_class::success, m.txn);
    if (m.method == stun_method::allocate) {
      CHECK(m.u32_attr(stun_attr::requested_transport) == (17u << 24));
      b.add_xor_address(stun_attr::xor_relayed_address, relayed)
          .add_xor_address(stun_attr::xor_mapped_address, mapped)
          .add_u32(stun_attr::lifetime, 600);
    }
    if (m.method == stun_method::refresh) b.add_u32(stun_attr::lifetime, 600);
    return b.finish(byte_span(key), true);
  }
};

// Runs the client against the fake until quiet.
void exchange(turn_client& c, fake_turn& s, steady::time_point now) {
  for (int round = 0; round < 10; ++round) {
    auto out = c.poll(now);
    if (out.empty()) return;
    for (auto& d : out) {
      CHECK(d.to == server);
      c.on_datagram(server, s.answer(d.data), now);
    }
  }
}

}  // namespace

TEST_CASE("TURN allocate authenticates after 401, binds a channel and frames ChannelData") {
  turn_client c({server, "alice", "secret", 600s});
  fake_turn s;
  steady::time_point now{};
  c.start(now);
  exchange(c, s, now);
  REQUIRE(c.state() == turn_state::allocated);
  CHECK(c.relayed_endpoint() == s.relayed);
  CHECK(c.reflexive_endpoint() == s.mapped);

  auto peer = ep("198.51.100.9:7000");
  CHECK_FALSE(c.wrap(peer, bytes{1}));
  REQUIRE(c.add_peer(peer, now).ok());
  exchange(c, s, now);
  CHECK(c.channel_bound(peer));
  auto w = c.wrap(peer, bytes{1, 2, 3});
  REQUIRE(w);
  auto cd = decode_channel_data(w->data);
  REQUIRE(cd);
  CHECK(cd->channel == 0x4000);
  CHECK(bytes(cd->payload.begin(), cd->payload.end()) == bytes{1, 2, 3});

  // Data from the peer on the channel comes back with the peer's address.
  auto got = c.on_datagram(server, encode_channel_data(0x4000, bytes{9, 9}), now);
  REQUIRE(got);
  CHECK(got->peer == peer);
  CHECK(got->payload == bytes{9, 9});
  // Data from anyone but the server is ignored.
  CHECK_FALSE(c.on_datagram(ep("10.0.0.1:1"), encode_channel_data(0x4000, bytes{9}), now));
}

TEST_CASE("TURN refresh survives a stale nonce") {
  turn_client c({server, "alice", "secret", 600s});
  fake_turn s;
  steady::time_point now{};
  c.start(now);
  exchange(c, s, now);
  REQUIRE(c.state() == turn_state::allocated);
  s.nonce = "n2";  // the server rotates its nonce
  now += 301s;     // past half the lifetime: a refresh is due
  exchange(c, s, now);
  CHECK(c.state() == turn_state::allocated);
  CHECK(c.last_error().empty());
}

TEST_CASE("TURN with a wrong password fails with the server's reason") {
  turn_client c({server, "alice", "wrong", 600s});
  fake_turn s;
  steady::time_point now{};
  c.start(now);
  exchange(c, s, now);
  CHECK(c.state() == turn_state::failed);
  CHECK(c.last_error().find("Allocate refused") != std::string::npos);
}

TEST_CASE("ChannelData framing rejects bad channels and lengths") {
  CHECK_FALSE(decode_channel_data(bytes{0x40, 0x00, 0x00}));
  CHECK_FALSE(decode_channel_data(bytes{0x50, 0x00, 0x00, 0x00}));        // channel 0x5000 out of range
  CHECK_FALSE(decode_channel_data(bytes{0x40, 0x00, 0x00, 0x05, 1, 2}));  // length overruns
  CHECK_FALSE(decode_channel_data(bytes{0x40, 0x00, 0x00, 0x01, 1, 0, 0, 0, 0}));  // > 3 padding bytes
  CHECK(decode_channel_data(bytes{0x40, 0x01, 0x00, 0x01, 7, 0, 0, 0})->payload.size() == 1);
}

TEST_CASE("once authenticated, TURN answers without a valid MESSAGE-INTEGRITY are dropped") {
  turn_client c({server, "alice", "secret", 600s});
  fake_turn s;
  steady::time_point now{};
  c.start(now);
  exchange(c, s, now);
  REQUIRE(c.state() == turn_state::allocated);
  auto peer = ep("198.51.100.9:7000");
  REQUIRE(c.add_peer(peer, now).ok());
  auto out = c.poll(now);
  REQUIRE_FALSE(out.empty());
  for (auto& d : out) {
    auto m = parse_stun(d.data).value();
    // A forged success (no integrity), a forged error (no integrity), one
    // signed with the wrong key, and a forged 401 after the retries: ignored.
    c.on_datagram(server, stun_builder(m.method, stun_class::success, m.txn).finish(std::nullopt, true), now);
    c.on_datagram(server,
                  stun_builder(m.method, stun_class::error, m.txn).add_error(403, "Forbidden").finish(std::nullopt, true),
                  now);
    auto wrong = stun_long_term_key("alice", "example.org", "guess");
    c.on_datagram(server, stun_builder(m.method, stun_class::success, m.txn).finish(byte_span(wrong), true), now);
  }
  CHECK_FALSE(c.channel_bound(peer));
  CHECK(c.state() == turn_state::allocated);
  CHECK(c.last_error().empty());
  CHECK(c.dropped_unauthenticated() == 3 * out.size());
  // The genuine answers still count.
  for (auto& d : out) c.on_datagram(server, s.answer(d.data), now);
  exchange(c, s, now);
  CHECK(c.channel_bound(peer));
}

TEST_CASE("a forged unauthenticated error cannot end a TURN allocation") {
  turn_client c({server, "alice", "secret", 600s});
  fake_turn s;
  steady::time_point now{};
  c.start(now);
  exchange(c, s, now);
  REQUIRE(c.state() == turn_state::allocated);
  now += 301s;  // a refresh is due
  auto out = c.poll(now);
  REQUIRE(out.size() == 1);
  auto m = parse_stun(out[0].data).value();
  c.on_datagram(server,
                stun_builder(m.method, stun_class::error, m.txn).add_error(437, "Allocation Mismatch").finish(std::nullopt, true),
                now);
  CHECK(c.state() == turn_state::allocated);
  c.on_datagram(server, s.answer(out[0].data), now);
  CHECK(c.state() == turn_state::allocated);
  CHECK(c.last_error().empty());
}
