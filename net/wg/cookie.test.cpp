#include "net/wg/cookie.hpp"

#include <doctest/doctest.h>

#include "net/wg/test_util.hpp"

using namespace overlayd;
using namespace overlayd::wg;
using namespace overlayd::wg::testing;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

namespace {

struct fixture {
  fake_clock clk;
  static_identity initiator = identity_of(1);
  static_identity responder = identity_of(2);
  cookie_checker checker{clk};
  cookie_maker maker;
  net::endpoint src{net::ip_address::v4(0x0a000001), 51820};

  fixture() {
    checker.set_identity(responder.public_key);
    maker.set_remote(responder.public_key);
  }

  msg_initiation initiation() {
    handshake hs;
    hs.remote_static = responder.public_key;
    REQUIRE(precompute_static(hs, initiator).ok());
    auto m = create_initiation(hs, initiator, 1, clk.wall_now());
    REQUIRE(m.ok());
    maker.add_macs(m->mutable_bytes(), clk.now());
    return *m;
  }
};

}  // namespace

TEST_CASE("MAC1 is checked on every handshake message and binds every byte before it") {
  fixture f;
  auto m = f.initiation();
  CHECK(f.checker.check(m.bytes(), f.src) == mac_check::valid_mac1);
  for (size_t i : {size_t{0}, size_t{4}, size_t{50}, msg_initiation::mac1_offset - 1, msg_initiation::mac1_offset}) {
    auto bad = m;
    bad.mutable_bytes()[i] ^= 1;
    CHECK_MESSAGE(f.checker.check(bad.bytes(), f.src) == mac_check::invalid, "byte " << i);
  }
  // MAC1 keyed by another responder's key fails.
  cookie_checker other(f.clk);
  other.set_identity(f.initiator.public_key);
  CHECK(other.check(m.bytes(), f.src) == mac_check::invalid);
  // Not a handshake message size.
  CHECK(f.checker.check(m.bytes().first(100), f.src) == mac_check::invalid);
}

TEST_CASE("under load: cookie reply, then MAC2 proves the source address") {
  fixture f;
  auto m = f.initiation();
  REQUIRE(f.checker.check(m.bytes(), f.src) == mac_check::valid_mac1);

  // The responder answers with a cookie reply instead of a response.
  const auto reply = f.checker.make_reply(m.bytes(), m.sender_index(), f.src);
  CHECK(reply.receiver_index() == 1u);
  REQUIRE(f.maker.consume_reply(reply, f.clk.now()).ok());
  CHECK(!f.maker.consume_reply(reply, f.clk.now()).ok());  // one reply per MAC1 sent

  // The next initiation carries MAC2 and is accepted under load.
  f.clk.advance(seconds(1));
  auto m2 = f.initiation();
  CHECK(f.checker.check(m2.bytes(), f.src) == mac_check::valid_cookie);

  // From another address or port the cookie does not hold.
  CHECK(f.checker.check(m2.bytes(), net::endpoint(net::ip_address::v4(0x0a000002), 51820)) == mac_check::valid_mac1);
  CHECK(f.checker.check(m2.bytes(), net::endpoint(f.src.ip(), 51821)) == mac_check::valid_mac1);
}

TEST_CASE("a cookie reply only opens with the MAC1 it answers") {
  fixture f;
  auto m = f.initiation();
  auto reply = f.checker.make_reply(m.bytes(), m.sender_index(), f.src);
  reply.encrypted_cookie[0] ^= 1;
  CHECK(!f.maker.consume_reply(reply, f.clk.now()).ok());
  cookie_maker fresh;
  fresh.set_remote(f.responder.public_key);
  CHECK(!fresh.consume_reply(f.checker.make_reply(m.bytes(), 1, f.src), f.clk.now()).ok());  // sent nothing
}

TEST_CASE("cookies expire: the initiator stops using one after 115 s, the secret rotates after 120 s") {
  fixture f;
  auto m = f.initiation();
  REQUIRE(f.maker.consume_reply(f.checker.make_reply(m.bytes(), 1, f.src), f.clk.now()).ok());
  f.clk.advance(seconds(114));
  CHECK(f.maker.has_fresh_cookie(f.clk.now()));
  CHECK(f.checker.check(f.initiation().bytes(), f.src) == mac_check::valid_cookie);
  f.clk.advance(seconds(2));
  CHECK(!f.maker.has_fresh_cookie(f.clk.now()));
  CHECK(f.checker.check(f.initiation().bytes(), f.src) == mac_check::valid_mac1);  // MAC2 is zero now

  // A cookie minted just before rotation stops working once the secret is 120 s old.
  fixture g;
  auto gm = g.initiation();
  REQUIRE(g.maker.consume_reply(g.checker.make_reply(gm.bytes(), 1, g.src), g.clk.now()).ok());
  g.clk.advance(seconds(100));
  auto late = g.initiation();  // MAC2 with the cookie (100 s old, still fresh)
  CHECK(g.checker.check(late.bytes(), g.src) == mac_check::valid_cookie);
  g.clk.advance(seconds(20));
  CHECK(g.checker.check(late.bytes(), g.src) == mac_check::valid_mac1);
  // A new reply after rotation carries a cookie under the new secret.
  auto again = g.initiation();
  REQUIRE(g.maker.consume_reply(g.checker.make_reply(again.bytes(), 1, g.src), g.clk.now()).ok());
  CHECK(g.checker.check(g.initiation().bytes(), g.src) == mac_check::valid_cookie);
}

TEST_CASE("responses carry MAC1 keyed by the initiator's public key") {
  fixture f;
  cookie_checker at_initiator(f.clk);
  at_initiator.set_identity(f.initiator.public_key);
  cookie_maker to_initiator;
  to_initiator.set_remote(f.initiator.public_key);
  msg_response r{};
  set_type(r.type, message_type::response);
  to_initiator.add_macs(r.mutable_bytes(), f.clk.now());
  CHECK(at_initiator.check(r.bytes(), f.src) == mac_check::valid_mac1);
}
