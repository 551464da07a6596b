#include <doctest/doctest.h>

#include <algorithm>

#include "net/nat/nat_constants.hpp"
#include "net/nat/relay_client.hpp"
#include "net/nat/relay_server.hpp"
#include "net/nat/relay_service.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;
using wall = std::chrono::system_clock;

namespace {

endpoint ep(const char* s) { return endpoint::parse(s).value(); }
const endpoint relay_ep = ep("198.51.100.1:3478");

relay_server make_server(size_t max_sessions = 100, std::string cred = "cluster-secret") {
  return relay_server({ip_address::parse("198.51.100.1").value(), 3478, max_sessions, std::move(cred)});
}

relay_client make_client(std::string cred = "cluster-secret") {
  return relay_client({relay_ep, std::move(cred), 600s});
}

// Delivers every datagram between one client (at `addr`) and the server
// until nothing is left; returns what the server sent to other addresses.
struct net_sim {
  relay_server& server;
  std::vector<std::pair<endpoint, relay_client*>> clients;
  std::vector<std::pair<endpoint, relay_client::delivered>> delivered;

  void run(wall::time_point now) {
    std::vector<std::pair<endpoint, outgoing_datagram>> q;  // (source, datagram)
    for (auto& [addr, c] : clients)
      for (auto& d : c->poll(now)) q.push_back({addr, d});
    for (size_t i = 0; i < q.size() && i < 1000; ++i) {
      auto [src, d] = q[i];
      if (d.to == relay_ep) {
        for (auto& out : server.on_datagram(src, d.data, now)) q.push_back({relay_ep, out});
      } else {
        for (auto& [addr, c] : clients)
          if (addr == d.to)
            if (auto got = c->on_datagram(src, d.data, now)) delivered.push_back({addr, *got});
      }
    }
  }
};

}  // namespace

TEST_CASE("two relay clients pair and exchange payloads through the relay") {
  auto server = make_server();
  auto a = make_client();
  auto b = make_client();
  net_sim sim{server, {{ep("203.0.113.10:40001"), &a}, {ep("203.0.113.20:50002"), &b}}, {}};
  wall::time_point now = wall::now();
  a.start(now);
  b.start(now);
  sim.run(now);
  REQUIRE(a.state() == relay_client_state::allocated);
  REQUIRE(b.state() == relay_client_state::allocated);
  CHECK(a.reflexive_endpoint() == ep("203.0.113.10:40001"));
  auto ra = *a.relayed_endpoint();
  auto rb = *b.relayed_endpoint();
  CHECK(ra.ip() == ip_address::parse("198.51.100.1").value());
  CHECK(ra.port() != rb.port());
  CHECK(server.session_count() == 2);

  // Only A binds: not paired, so data is dropped.
  REQUIRE(a.bind_peer(rb, now).ok());
  sim.run(now);
  CHECK_FALSE(a.paired(rb));
  bytes payload = {1, 2, 3, 4};
  auto frame = a.wrap(rb, payload);
  REQUIRE(frame);
  CHECK(server.on_datagram(ep("203.0.113.10:40001"), frame->data, now).empty());

  // B binds A: paired on both sides (A learns it from the relay's notice).
  REQUIRE(b.bind_peer(ra, now).ok());
  sim.run(now);
  CHECK(a.paired(rb));
  CHECK(b.paired(ra));
  auto fwd = server.on_datagram(ep("203.0.113.10:40001"), frame->data, now);
  REQUIRE(fwd.size() == 1);
  CHECK(fwd[0].to == ep("203.0.113.20:50002"));
  auto got = b.on_datagram(relay_ep, fwd[0].data, now);
  REQUIRE(got);
  CHECK(got->from == ra);
  CHECK(got->payload == payload);

  // A frame from another source address with A's session is dropped.
  CHECK(server.on_datagram(ep("203.0.113.99:40001"), frame->data, now).empty());
  // Endpoints that are not relayed peers are not wrapped.
  CHECK_FALSE(a.wrap(ep("192.0.2.1:51820"), payload));
}

TEST_CASE("forged, replayed and stale control messages are dropped") {
  auto server = make_server();
  auto key = relay::derive_auth_key("cluster-secret");
  wall::time_point now = wall::now();
  relay::control req;
  req.type = relay::msg_type::allocate;
  req.timestamp_ms = relay::unix_ms(now);
  req.nonce = 77;
  req.token = 5;
  auto good = relay::encode_control(req, key);
  auto from = ep("203.0.113.10:40001");

  auto forged = relay::encode_control(req, relay::derive_auth_key("wrong-credential"));
  CHECK(server.on_datagram(from, forged, now).empty());
  bytes flipped = good;
  flipped[40] ^= 1;
  CHECK(server.on_datagram(from, flipped, now).empty());
  CHECK(server.stats().dropped_auth == 2);

  CHECK(server.on_datagram(from, good, now).size() == 1);
  CHECK(server.on_datagram(from, good, now).empty());  // replay
  CHECK(server.on_datagram(from, good, now + 5s).empty());
  CHECK(server.stats().dropped_replay == 2);

  req.nonce = 78;
  req.timestamp_ms = relay::unix_ms(now - 31s);
  CHECK(server.on_datagram(from, relay::encode_control(req, key), now).empty());
  req.timestamp_ms = relay::unix_ms(now + 31s);
  CHECK(server.on_datagram(from, relay::encode_control(req, key), now).empty());
  CHECK(server.stats().dropped_stale == 2);
  CHECK(server.session_count() == 1);
}

TEST_CASE("a client with the wrong credential never allocates") {
  auto server = make_server();
  auto c = make_client("not-the-cluster-secret");
  net_sim sim{server, {{ep("203.0.113.10:40001"), &c}}, {}};
  wall::time_point t = wall::now();
  c.start(t);
  CHECK(c.allocate_transmissions() == 0);
  unsigned most = 0;
  for (int i = 0; i < 100 && c.state() == relay_client_state::allocating; ++i, t += 1s) {
    sim.run(t);
    most = std::max(most, c.allocate_transmissions());
  }
  CHECK(most == relay_request_max_transmissions);  // visible while unanswered
  CHECK(c.allocate_transmissions() == 0);           // nothing pending once failed
  CHECK(c.state() == relay_client_state::failed);
  CHECK(server.session_count() == 0);
  CHECK(server.stats().dropped_auth == relay_request_max_transmissions);
}

TEST_CASE("max_sessions holds and refused clients learn why") {
  auto server = make_server(2);
  relay_client c1 = make_client(), c2 = make_client(), c3 = make_client();
  net_sim sim{server,
              {{ep("203.0.113.1:1000"), &c1}, {ep("203.0.113.2:1000"), &c2}, {ep("203.0.113.3:1000"), &c3}},
              {}};
  auto now = wall::now();
  for (auto* c : {&c1, &c2, &c3}) c->start(now);
  sim.run(now);
  CHECK(server.session_count() == 2);
  int failed = 0;
  for (auto* c : {&c1, &c2, &c3})
    if (c->state() == relay_client_state::failed) {
      ++failed;
      CHECK(c->last_error().find("exhausted") != std::string::npos);
    }
  CHECK(failed == 1);
}

TEST_CASE("allocations expire at their lifetime unless refreshed") {
  auto server = make_server();
  relay_client keep({relay_ep, "cluster-secret", 60s});
  relay_client lapse({relay_ep, "cluster-secret", 60s});
  auto t = wall::now();
  net_sim sim{server, {{ep("203.0.113.1:1000"), &keep}}, {}};
  keep.start(t);
  sim.run(t);
  // `lapse` allocates but is never polled again, so it never refreshes.
  net_sim sim2{server, {{ep("203.0.113.2:1000"), &lapse}}, {}};
  lapse.start(t);
  sim2.run(t);
  CHECK(server.session_count() == 2);
  for (int s = 1; s <= 90; ++s) {
    t += 1s;
    sim.run(t);
    server.expire(t);
  }
  CHECK(server.session_count() == 1);
  CHECK(keep.state() == relay_client_state::allocated);
}

TEST_CASE("a retransmitted allocate returns the same session") {
  auto server = make_server();
  auto key = relay::derive_auth_key("cluster-secret");
  auto now = wall::now();
  relay::control req;
  req.type = relay::msg_type::allocate;
  req.timestamp_ms = relay::unix_ms(now);
  req.token = 42;
  req.nonce = 1;
  auto r1 = server.on_datagram(ep("203.0.113.1:1000"), relay::encode_control(req, key), now);
  req.nonce = 2;
  auto r2 = server.on_datagram(ep("203.0.113.1:1000"), relay::encode_control(req, key), now);
  REQUIRE(r1.size() == 1);
  REQUIRE(r2.size() == 1);
  CHECK(relay::decode_control(r1[0].data, key)->port == relay::decode_control(r2[0].data, key)->port);
  CHECK(server.session_count() == 1);
}

TEST_CASE("malformed relay frames are rejected") {
  auto key = relay::derive_auth_key("k");
  relay::control c;
  auto good = relay::encode_control(c, key);
  const bytes bad[] = {{}, bytes(good.begin(), good.end() - 1), bytes(103, 0xC1)};
  for (const auto& b : bad) CHECK_FALSE(relay::decode_control(b, key).ok());
  bytes badfam = good;
  badfam[48] = 9;  // the MAC fails first; a correctly signed bad family is also refused
  CHECK_FALSE(relay::decode_control(badfam, key).ok());
  CHECK_FALSE(relay::decode_data(bytes(15, 0xCD)));
  CHECK(relay::decode_data(relay::encode_data(1, 2, 3, bytes{9}))->payload.size() == 1);
  CHECK(relay::looks_like_relay(good));
  CHECK_FALSE(relay::looks_like_relay(bytes{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("the replay guard forgets nonces only once they are stale anyway") {
  relay::replay_guard g(30s);
  uint64_t t0 = 1'000'000;
  CHECK(g.check(t0, 1, t0) == relay::replay_guard::verdict::fresh);
  CHECK(g.check(t0, 1, t0 + 29'000) == relay::replay_guard::verdict::replayed);
  CHECK(g.check(t0, 1, t0 + 31'000) == relay::replay_guard::verdict::stale);
  CHECK(g.check(t0 + 31'000, 2, t0 + 31'000) == relay::replay_guard::verdict::fresh);
  CHECK(g.size() == 1);
}

TEST_CASE("a relay without a credential refuses to start, and a keyless server answers nothing") {
  relay_server_options o{ip_address::parse("127.0.0.1").value(), 0, 100, ""};
  auto svc = relay_service::start(ep("127.0.0.1:0"), o);
  REQUIRE_FALSE(svc.ok());
  CHECK(svc.err().code == overlayd::errc::invalid_argument);
  CHECK(svc.err().message.find("auth_credential") != std::string::npos);
  // The publicly derivable key of an empty credential buys nothing.
  auto keyless = make_server(100, "");
  relay::control req;
  req.type = relay::msg_type::allocate;
  wall::time_point now = wall::now();
  req.timestamp_ms = relay::unix_ms(now);
  req.nonce = 1;
  req.token = 9;
  CHECK(keyless.on_datagram(ep("203.0.113.10:1"), relay::encode_control(req, relay::derive_auth_key("")), now).empty());
  CHECK(keyless.session_count() == 0);
}

TEST_CASE("no unauthenticated message moves a session's client address") {
  auto server = make_server();
  auto key = relay::derive_auth_key("cluster-secret");
  wall::time_point now = wall::now();
  const auto owner = ep("203.0.113.10:40001"), victim = ep("192.0.2.99:53");
  relay::control req;
  req.type = relay::msg_type::allocate;
  req.timestamp_ms = relay::unix_ms(now);
  req.nonce = 100;
  req.token = 0xABCDEF;
  auto answers = server.on_datagram(owner, relay::encode_control(req, key), now);
  REQUIRE(answers.size() == 1);
  auto ok = relay::decode_control(answers[0].data, key);
  REQUIRE(ok);
  const uint32_t sid = ok->session_id;
  // Refreshes from the victim's address: forged MAC, the right MAC but a
  // wrong token, a replay of a genuine one, a stale one.
  relay::control refresh;
  refresh.type = relay::msg_type::refresh;
  refresh.session_id = sid;
  refresh.token = 0xABCDEF;
  refresh.lifetime_secs = 600;
  refresh.timestamp_ms = relay::unix_ms(now);
  refresh.nonce = 101;
  auto genuine = relay::encode_control(refresh, key);
  CHECK(server.on_datagram(victim, relay::encode_control(refresh, relay::derive_auth_key("x")), now).empty());
  relay::control wrong_token = refresh;
  wrong_token.token = 1;
  wrong_token.nonce = 102;
  auto refused = server.on_datagram(victim, relay::encode_control(wrong_token, key), now);
  CHECK(server.on_datagram(owner, genuine, now).size() == 1);  // the owner's own refresh
  CHECK(server.on_datagram(victim, genuine, now).empty());     // replayed from the victim
  relay::control stale = refresh;
  stale.nonce = 103;
  stale.timestamp_ms = relay::unix_ms(now - 60s);
  CHECK(server.on_datagram(victim, relay::encode_control(stale, key), now).empty());
  // A data frame from the victim's address (tokens travel in data frames).
  CHECK(server.on_datagram(victim, relay::encode_data(1, sid, 0xABCDEF, bytes{1, 2}), now).empty());
  // Whatever was answered went to the sender, never elsewhere; the session
  // still belongs to `owner`: its release from `owner` works, with the
  // session's answer going to owner.
  for (const auto& d : refused) CHECK(d.to == victim);
  relay::control rel = refresh;
  rel.type = relay::msg_type::release;
  rel.nonce = 104;
  auto gone = server.on_datagram(owner, relay::encode_control(rel, key), now);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].to == owner);
  CHECK(server.session_count() == 0);
}
