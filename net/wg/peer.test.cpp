// Two in-memory WireGuard endpoints, wired as a device would wire
// peer_protocol (see peer.hpp), over a lossy, reordering, duplicating
// "network", all under one fake clock.
#include "net/wg/peer.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "net/wg/test_util.hpp"

using namespace overlayd;
using namespace overlayd::wg;
using namespace overlayd::wg::testing;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

using bytes = std::vector<uint8_t>;

struct network;

struct node {
  node(network& n, fake_clock& clk, net::endpoint a) : net(n), clock(clk), checker(clk), addr(a) {
    checker.set_identity(id->public_key);
  }

  network& net;
  fake_clock& clock;
  std::shared_ptr<const static_identity> id = random_identity();
  index_table indices;
  cookie_checker checker;
  std::shared_ptr<peer_protocol> peer;
  net::endpoint addr;
  std::deque<bytes> staged;
  std::vector<std::string> received;
  bool under_load = false;
  int handshakes_sent = 0;
  int cookie_replies_sent = 0;
  int max_staged = 64;

  void connect(node& other) {
    peer = peer_protocol::create(other.id->public_key, indices, clock);
    peer->set_identity(id);
  }

  void push(bytes b);
  void push_initiation(const std::optional<msg_initiation>& m) {
    if (!m) return;
    ++handshakes_sent;
    push(bytes(m->bytes().begin(), m->bytes().end()));
  }

  // TUN side: one plaintext packet to the peer.
  void send(const std::string& payload) {
    bytes buf(16 + payload.size() + 16);
    std::memcpy(buf.data() + 16, payload.data(), payload.size());
    auto r = peer->encrypt(buf, payload.size());
    if (r.wire_len > 0) {
      buf.resize(r.wire_len);
      push(std::move(buf));
    } else if (!payload.empty()) {
      if (int(staged.size()) < max_staged) staged.push_back(bytes(payload.begin(), payload.end()));
    }
    push_initiation(r.initiation);
  }

  void flush_staged() {
    std::deque<bytes> q;
    q.swap(staged);
    if (q.empty()) {
      send("");  // keepalive confirms the new session to the responder
      return;
    }
    for (auto& p : q) send(std::string(p.begin(), p.end()));
  }

  bool macs_ok(bytes_view b, uint32_t sender) {
    const auto c = checker.check(b, addr);
    if (c == mac_check::invalid) return false;
    if (under_load && c != mac_check::valid_cookie) {
      auto reply = checker.make_reply(b, sender, addr);
      ++cookie_replies_sent;
      push(bytes(reply.bytes().begin(), reply.bytes().end()));
      return false;
    }
    return true;
  }

  // UDP side: one datagram from the peer.
  void receive(bytes b) {
    const auto type = message_type_of(b);
    if (!type) return;
    switch (*type) {
      case message_type::initiation: {
        auto m = parse_initiation(b);
        if (!m || !macs_ok(b, m->sender_index())) return;
        auto opened = open_initiation(*m, *id);
        if (!opened || !(opened->initiator_static == peer->remote_static())) return;
        auto resp = peer->consume_initiation(*opened);
        if (resp) {
          ++handshakes_sent;
          push(bytes(resp->bytes().begin(), resp->bytes().end()));
        }
        return;
      }
      case message_type::response: {
        auto m = parse_response(b);
        if (!m || !macs_ok(b, m->sender_index())) return;
        auto e = indices.lookup(m->receiver_index());
        if (!e || e->kind != index_kind::handshake) return;
        if (e->peer->consume_response(*m).ok()) flush_staged();
        return;
      }
      case message_type::cookie_reply: {
        auto m = parse_cookie_reply(b);
        if (!m) return;
        if (auto e = indices.lookup(m->receiver_index())) (void)e->peer->consume_cookie_reply(*m);
        return;
      }
      case message_type::transport: {
        auto e = indices.lookup(load_le32(b.data() + 4));
        if (!e || e->kind != index_kind::keypair) return;
        auto r = e->peer->decrypt(b);
        if (!r) return;
        if (r->plaintext_len > 0) received.emplace_back(b.begin() + 16, b.begin() + 16 + long(r->plaintext_len));
        if (r->session_confirmed && !staged.empty()) flush_staged();
        push_initiation(r->initiation);
        return;
      }
    }
  }

  void tick() {
    auto t = peer->poll();
    if (t.drop_staged) staged.clear();
    push_initiation(t.initiation);
    if (t.send_keepalive) send("");
  }
};

struct network {
  struct packet {
    node* to;
    bytes data;
  };
  std::mt19937_64 rng{7};
  double loss = 0, dup = 0, reorder = 0;
  std::deque<packet> inflight;
  node* a = nullptr;
  node* b = nullptr;
  size_t delivered = 0;

  void send(node* from, bytes data) {
    node* to = from == a ? b : a;
    std::uniform_real_distribution<double> u(0, 1);
    if (u(rng) < loss) return;
    if (u(rng) < dup) inflight.push_back({to, data});
    if (u(rng) < reorder && !inflight.empty()) {
      inflight.insert(inflight.begin() + long(rng() % inflight.size()), {to, std::move(data)});
    } else {
      inflight.push_back({to, std::move(data)});
    }
  }

  // Delivers until quiet (bounded).
  void run() {
    for (int i = 0; i < 100000 && !inflight.empty(); ++i) {
      packet p = std::move(inflight.front());
      inflight.pop_front();
      ++delivered;
      p.to->receive(std::move(p.data));
    }
  }
};

void node::push(bytes b) { net.send(this, std::move(b)); }

struct pair_fixture {
  fake_clock clk;
  network net;
  node a{net, clk, net::endpoint(net::ip_address::v4(0x0a000001), 1111)};
  node b{net, clk, net::endpoint(net::ip_address::v4(0x0a000002), 2222)};
  pair_fixture() {
    net.a = &a;
    net.b = &b;
    a.connect(b);
    b.connect(a);
  }
  void advance(std::chrono::milliseconds d, milliseconds step = milliseconds(100)) {
    for (auto t = milliseconds(0); t < d; t += step) {
      clk.advance(step);
      a.tick();
      b.tick();
      net.run();
    }
  }
};

}  // namespace

TEST_CASE("first packet triggers a handshake; staged data then flows both ways") {
  pair_fixture f;
  f.a.send("ping");
  CHECK(f.a.staged.size() == 1);
  CHECK(f.a.handshakes_sent == 1);
  f.net.run();
  REQUIRE(f.b.received.size() == 1);
  CHECK(f.b.received[0] == "ping");
  CHECK(f.a.peer->has_session());
  CHECK(f.b.peer->has_session());  // confirmed by the first data packet
  CHECK(f.a.peer->last_handshake().has_value());
  CHECK(f.b.peer->last_handshake().has_value());
  f.b.send("pong");
  f.net.run();
  REQUIRE(f.a.received.size() == 1);
  CHECK(f.a.received[0] == "pong");
  CHECK(f.a.indices.size() == 1);  // just the keypair's index
  CHECK(f.b.indices.size() == 1);
}

TEST_CASE("the responder may not send until the initiator's first data confirms the session") {
  pair_fixture f;
  auto init = f.a.peer->create_initiation();
  REQUIRE(init.has_value());
  auto opened = open_initiation(*init, *f.b.id);
  REQUIRE(opened.ok());
  auto resp = f.b.peer->consume_initiation(*opened);
  REQUIRE(resp.ok());
  CHECK(f.b.peer->next_keypair() != nullptr);
  CHECK(f.b.peer->current_keypair() == nullptr);
  CHECK(!f.b.peer->has_session());
  REQUIRE(f.a.peer->consume_response(*resp).ok());
  CHECK(f.a.peer->has_session());
  // The initiator's keepalive (or data) promotes next → current on the responder.
  f.a.send("");
  f.net.run();
  CHECK(f.b.peer->current_keypair() != nullptr);
  CHECK(f.b.peer->next_keypair() == nullptr);
  CHECK(f.b.peer->has_session());
  CHECK(f.b.received.empty());  // a keepalive carries no payload
}

TEST_CASE("handshake and data survive loss, reordering and duplication in both directions") {
  for (uint64_t seed : {1, 2, 3}) {
    pair_fixture f;
    f.net.rng.seed(seed);
    f.net.loss = 0.3;
    f.net.dup = 0.2;
    f.net.reorder = 0.3;
    int sent_a = 0, sent_b = 0;
    for (int step = 0; step < 3000; ++step) {  // 5 minutes of protocol time
      if (step % 2 == 0) f.a.send("a" + std::to_string(sent_a++));
      if (step % 3 == 0) f.b.send("b" + std::to_string(sent_b++));
      f.advance(milliseconds(100));
    }
    // No packet is delivered twice (replay protection), and most arrive.
    std::set<std::string> at_b(f.b.received.begin(), f.b.received.end());
    std::set<std::string> at_a(f.a.received.begin(), f.a.received.end());
    CHECK(at_b.size() == f.b.received.size());
    CHECK(at_a.size() == f.a.received.size());
    INFO("seed " << seed << ": b got " << at_b.size() << "/" << sent_a << ", a got " << at_a.size() << "/" << sent_b);
    CHECK(at_b.size() > size_t(sent_a) / 2);
    CHECK(at_a.size() > size_t(sent_b) / 2);
    CHECK(f.a.peer->has_session());
    CHECK(f.b.peer->has_session());
  }
}

TEST_CASE("both sides initiating at once still converge on a working session") {
  pair_fixture f;
  f.a.send("from a");
  f.b.send("from b");
  f.net.run();
  f.advance(seconds(30));
  f.a.send("a again");
  f.b.send("b again");
  f.advance(seconds(1));
  CHECK(std::count(f.b.received.begin(), f.b.received.end(), "a again") == 1);
  CHECK(std::count(f.a.received.begin(), f.a.received.end(), "b again") == 1);
}

TEST_CASE("hours of steady traffic rekey every two minutes and never use an expired key") {
  pair_fixture f;
  std::set<uint32_t> a_indices;
  int sent = 0;
  for (int s = 0; s < 3 * 3600; ++s) {  // 3 hours, one packet each way per second
    // b sends half a second after a: two TUNs that emit in the very same
    // instant on a zero-latency link would make every (unjittered,
    // data-triggered) initiation cross the other side's forever.
    f.a.send("a" + std::to_string(sent));
    f.advance(milliseconds(500));
    f.b.send("b" + std::to_string(sent));
    f.advance(milliseconds(500));
    ++sent;
    if (auto kp = f.a.peer->current_keypair()) {
      a_indices.insert(kp->local_index());
      REQUIRE(f.clk.now() - kp->created() < reject_after_time);
    }
  }
  // A new session at least every REKEY_AFTER_TIME (+ a few seconds of slack).
  CHECK(a_indices.size() >= size_t(3 * 3600 / 125));
  CHECK(f.b.received.size() >= size_t(sent - 10));
  CHECK(f.a.received.size() >= size_t(sent - 10));
  // Index tables hold only live keypairs (and at most one pending handshake).
  CHECK(f.a.indices.size() <= 4);
  CHECK(f.b.indices.size() <= 4);
}

TEST_CASE("an idle peer sends nothing and its keys are zeroed after 3 * REJECT_AFTER_TIME") {
  pair_fixture f;
  f.a.send("hello");
  f.advance(seconds(1));
  REQUIRE(f.a.peer->has_session());
  const size_t before = f.net.delivered;
  f.advance(seconds(11));  // b's keepalive for the received data
  const size_t after_keepalive = f.net.delivered;
  CHECK(after_keepalive - before == 1);
  f.advance(minutes(8));
  CHECK(f.net.delivered == after_keepalive);  // silence while idle
  CHECK(f.a.peer->current_keypair() != nullptr);  // expired, but not yet zeroed
  CHECK(!f.a.peer->has_session());
  f.advance(minutes(2));  // past 540 s since the session
  CHECK(f.a.peer->current_keypair() == nullptr);
  CHECK(f.b.peer->current_keypair() == nullptr);
  CHECK(f.a.indices.size() == 0);
  CHECK(f.b.indices.size() == 0);
  // And a new packet starts over cleanly.
  f.a.send("again");
  f.advance(seconds(1));
  CHECK(f.b.received.back() == "again");
}

TEST_CASE("an unreachable peer: retries for REKEY_ATTEMPT_TIME, then drops staged packets") {
  pair_fixture f;
  f.net.loss = 1.0;
  f.a.send("lost");
  CHECK(f.a.staged.size() == 1);
  f.advance(seconds(80));
  CHECK(f.a.staged.size() == 1);
  CHECK(f.a.handshakes_sent >= 15);
  f.advance(seconds(30));
  CHECK(f.a.staged.empty());
  CHECK(f.a.handshakes_sent == int(max_timer_handshakes) + 1);
  const int sent = f.a.handshakes_sent;
  f.advance(minutes(5));
  CHECK(f.a.handshakes_sent == sent);  // gave up: quiet until new traffic
}

TEST_CASE("under load the responder answers with a cookie and accepts the MAC2 retry") {
  pair_fixture f;
  f.b.under_load = true;
  f.a.send("through the cookie");
  f.net.run();
  CHECK(f.b.cookie_replies_sent == 1);
  CHECK(!f.a.peer->has_session());
  f.advance(seconds(6));  // retransmit carries MAC2
  CHECK(f.b.cookie_replies_sent == 1);
  CHECK(f.a.peer->has_session());
  REQUIRE(!f.b.received.empty());
  CHECK(f.b.received[0] == "through the cookie");
}

TEST_CASE("persistent keepalive keeps an idle session chatting") {
  pair_fixture f;
  f.a.peer->set_persistent_keepalive(seconds(25));
  f.a.send("x");
  f.advance(seconds(2));
  const size_t before = f.net.delivered;
  f.advance(seconds(100));
  CHECK(f.net.delivered - before >= 3);
  CHECK(f.a.peer->persistent_keepalive() == seconds(25));
}

TEST_CASE("a removed peer's indices stop resolving") {
  pair_fixture f;
  f.a.send("x");
  f.net.run();
  REQUIRE(f.b.indices.size() == 1);
  f.b.peer.reset();
  CHECK(f.b.indices.size() == 0);
}

TEST_CASE("changing the private key drops sessions and a new handshake works") {
  pair_fixture f;
  f.a.send("x");
  f.net.run();
  REQUIRE(f.a.peer->has_session());
  f.a.peer->set_identity(f.a.id);  // same key re-set: sessions still dropped
  CHECK(!f.a.peer->has_session());
  f.clk.advance(seconds(6));
  f.a.send("y");
  f.net.run();
  CHECK(f.b.received.back() == "y");
  f.a.peer->set_identity(nullptr);
  CHECK(!f.a.peer->create_initiation().has_value());
}

TEST_CASE("peers tolerate concurrent encrypt, decrypt, handshakes and timer polls") {
  pair_fixture f;
  f.a.send("setup");
  f.net.run();
  REQUIRE(f.a.peer->has_session());
  REQUIRE(f.b.peer->has_session());
  std::atomic<bool> stop{false};
  std::atomic<int> delivered{0};
  auto sender = [&](peer_protocol& from, peer_protocol& to) {
    for (int i = 0; i < 3000; ++i) {
      bytes buf(16 + 64 + 16, 0x5a);
      auto r = from.encrypt(buf, 64);
      if (r.wire_len == 0) continue;
      buf.resize(r.wire_len);
      if (to.decrypt(buf).ok()) delivered.fetch_add(1);
    }
  };
  std::thread t1(sender, std::ref(*f.a.peer), std::ref(*f.b.peer));
  std::thread t2(sender, std::ref(*f.a.peer), std::ref(*f.b.peer));
  std::thread t3(sender, std::ref(*f.b.peer), std::ref(*f.a.peer));
  std::thread poller([&] {
    // Rekeys in the middle of the traffic: b initiates, a answers.
    for (int i = 0; i < 20 && !stop; ++i) {
      f.clk.advance(seconds(6));
      (void)f.a.peer->poll();
      (void)f.b.peer->poll();
      if (auto init = f.b.peer->create_initiation()) {
        auto opened = open_initiation(*init, *f.a.id);
        if (opened)
          if (auto resp = f.a.peer->consume_initiation(*opened)) (void)f.b.peer->consume_response(*resp);
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  t1.join();
  t2.join();
  t3.join();
  stop = true;
  poller.join();
  CHECK(delivered.load() > 0);
}

TEST_CASE("the batch receive path confirms a session like decrypt() does") {
  pair_fixture f;
  auto init = f.a.peer->create_initiation();
  auto resp = f.b.peer->consume_initiation(*open_initiation(*init, *f.b.id));
  REQUIRE(resp.ok());
  REQUIRE(f.a.peer->consume_response(*resp).ok());
  std::vector<bytes> batch;
  for (int i = 0; i < 3; ++i) {
    bytes buf(16 + 16 + 16, uint8_t(i));
    auto r = f.a.peer->encrypt(buf, 16);
    REQUIRE(r.wire_len == buf.size());
    batch.push_back(buf);
  }
  auto kp = f.b.peer->receive_keypair(load_le32(batch[0].data() + 4));
  REQUIRE(kp != nullptr);
  CHECK(f.b.peer->receive_keypair(12345) == nullptr);
  for (auto& d : batch) CHECK(kp->decrypt(d, f.clk.now()).ok());
  CHECK(!f.b.peer->has_session());
  const auto r = f.b.peer->note_received(*kp, true);
  CHECK(r.session_confirmed);
  CHECK(f.b.peer->has_session());
}

TEST_CASE("initiations are one per REKEY_TIMEOUT, except NAT-traversal probes, and a probe's answer completes") {
  pair_fixture f;
  REQUIRE(f.a.peer->create_initiation().has_value());
  CHECK(!f.a.peer->create_initiation().has_value());  // within REKEY_TIMEOUT
  f.clk.advance(milliseconds(2000));
  CHECK(!f.a.peer->create_initiation().has_value());
  auto probe = f.a.peer->create_initiation(false, /*probe=*/true);
  REQUIRE(probe.has_value());
  // The probe is a complete initiation: its answer gives a session.
  auto opened = open_initiation(*probe, *f.b.id);
  REQUIRE(opened.ok());
  auto resp = f.b.peer->consume_initiation(*opened);
  REQUIRE(resp.ok());
  REQUIRE(f.a.peer->consume_response(*resp).ok());
  CHECK(f.a.peer->has_session());
}
