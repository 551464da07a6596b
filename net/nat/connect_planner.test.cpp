#include "net/nat/connect_planner.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;

namespace {

endpoint ep(const char* s) { return endpoint::parse(s).value(); }
candidate host(const char* s) { return make_candidate(candidate_type::host, ep(s)); }
candidate srflx(const char* s) { return make_candidate(candidate_type::server_reflexive, ep(s)); }
candidate relay_c(const char* s) { return make_candidate(candidate_type::relay, ep(s)); }

// A scripted peer: the handshake "completes" when the planner has pointed
// the endpoint at `works` (and, for the relay, bound it first).
struct world {
  std::optional<endpoint> works;
  std::optional<endpoint> current;
  std::optional<steady::time_point> last;
  bool relay_ok = true;
  std::vector<connect_action> seen;

  std::vector<connect_action> step(connect_planner& pl, steady::time_point now) {
    auto acts = pl.tick(now, [&](const std::string&) { return handshake_info{last, current}; },
                        [&](const endpoint&) { return relay_ok; });
    for (const auto& a : acts) {
      seen.push_back(a);
      if (a.what == connect_action::kind::set_endpoint) current = a.to;
      if (a.what == connect_action::kind::initiate_handshake && works && a.to == *works) {
        last = now;
        current = a.to;  // the answer comes from there: WireGuard roams the endpoint
      }
    }
    return acts;
  }
  void run(connect_planner& pl, steady::time_point& now, std::chrono::seconds for_) {
    for (auto end = now + for_; now < end; now += 100ms) step(pl, now);
  }
};

connect_planner planner() { return connect_planner({10, 15s, 500ms, 1500ms, 2000ms, 120s, 75s, 180s}); }

}  // namespace

TEST_CASE("pairs come in RFC 8445 priority order, deduplicated, family-matched and bounded") {
  std::vector<candidate> local = {host("192.168.1.2:51820"), srflx("203.0.113.1:51820"), host("[fd00::2]:51820")};
  std::vector<candidate> remote = {relay_c("198.51.100.1:50000"), srflx("203.0.113.9:4000"),
                                   host("10.0.0.9:51820"), host("[fd00::9]:51820")};
  auto pairs = form_pairs(local, remote, 10);
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[0].remote.address == ep("10.0.0.9:51820"));
  CHECK(pairs[1].remote.address == ep("[fd00::9]:51820"));
  CHECK(pairs[2].remote.address == ep("203.0.113.9:4000"));
  CHECK(form_pairs(local, remote, 1).size() == 1);
  CHECK(form_pairs({}, remote, 10).empty());
}

TEST_CASE("connect outcomes by scenario") {
  struct row {
    const char* name;
    std::vector<candidate> remote;
    std::optional<endpoint> works;
    bool relay_ok;
    connection_type want;
  };
  const row rows[] = {
      {"host candidate answers", {host("10.0.0.9:51820"), srflx("203.0.113.9:4000")}, ep("10.0.0.9:51820"), true,
       connection_type::direct},
      {"only the reflexive one answers", {host("10.0.0.9:51820"), srflx("203.0.113.9:4000")}, ep("203.0.113.9:4000"),
       true, connection_type::hole_punched},
      {"only the relay answers",
       {host("10.0.0.9:51820"), srflx("203.0.113.9:4000"), relay_c("198.51.100.1:50000")},
       ep("198.51.100.1:50000"), true, connection_type::relayed},
      {"nothing answers, relay unusable",
       {host("10.0.0.9:51820"), relay_c("198.51.100.1:50000")}, std::nullopt, false, connection_type::unreachable},
      {"no candidates at all", {}, std::nullopt, true, connection_type::unreachable},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto pl = planner();
    pl.set_local_candidates({host("192.168.1.2:51820"), srflx("203.0.113.1:51820")});
    REQUIRE(pl.set_peer("peer", r.remote).ok());
    world w;
    w.works = r.works;
    w.relay_ok = r.relay_ok;
    steady::time_point now{};
    w.run(pl, now, 40s);
    auto st = pl.snapshot();
    REQUIRE(st.size() == 1);
    REQUIRE(st[0].type);
    CHECK(*st[0].type == r.want);
    REQUIRE_FALSE(st[0].log.empty());
    CHECK(st[0].log.front().outcome == r.want);
    CHECK_FALSE(st[0].log.front().reason.empty());
    if (r.want != connection_type::unreachable) CHECK(st[0].remote_endpoint == r.works);
  }
}

TEST_CASE("a failed attempt tries every pair within the hole punch timeout and logs them") {
  auto pl = planner();
  pl.set_local_candidates({host("192.168.1.2:51820")});
  REQUIRE(pl.set_peer("p", {host("10.0.0.9:51820"), srflx("203.0.113.9:4000"), relay_c("198.51.100.1:50000")}).ok());
  world w;
  w.relay_ok = false;
  steady::time_point now{};
  w.run(pl, now, 16s);
  auto st = pl.snapshot();
  REQUIRE(st[0].type == connection_type::unreachable);
  CHECK(st[0].log[0].pairs_tried == std::vector<std::string>{"host 10.0.0.9:51820", "server-reflexive 203.0.113.9:4000"});
  CHECK(st[0].log[0].reason.find("no usable relay candidate") != std::string::npos);
  CHECK(st[0].log[0].reason.ends_with("; no usable relay candidate"));  // no relay problem was set
  size_t punches = 0;
  for (const auto& a : w.seen) punches += a.what == connect_action::kind::punch;
  CHECK(punches >= 20);  // every 500 ms to both remotes for 15 s
}

TEST_CASE("an unreachable peer's reason says whether it offered a relay and why ours is unusable") {
  auto pl = planner();
  pl.set_local_candidates({host("192.168.1.2:51820")});
  pl.set_relay_problem("relay 198.51.100.1:3490: did not answer (wrong credential, or unreachable)");
  REQUIRE(pl.set_peer("with", {host("10.0.0.9:51820"), relay_c("198.51.100.1:50000")}).ok());
  REQUIRE(pl.set_peer("without", {host("10.0.0.8:51820")}).ok());
  world w;
  w.relay_ok = false;
  steady::time_point now{};
  w.run(pl, now, 16s);
  auto st = pl.snapshot();
  REQUIRE(st.size() == 2);
  CHECK(st[0].peer == "with");
  CHECK(st[0].type == connection_type::unreachable);
  CHECK(st[0].log[0].reason ==
        "no handshake on 1 direct pair(s) within 15 s; no usable relay candidate "
        "(relay 198.51.100.1:3490: did not answer (wrong credential, or unreachable))");
  CHECK(st[1].log[0].reason.find("; the peer offers no relay candidate (relay 198.51.100.1:3490") != std::string::npos);
}

TEST_CASE("a handshake through the relay gets relay_window even with a short hole punch timeout") {
  for (bool answers : {true, false}) {
    CAPTURE(answers);
    connect_planner pl({10, 4s, 500ms, 1500ms, 2000ms, 120s, 75s, 180s});  // relay_window: the default 26 s
    pl.set_local_candidates({host("192.168.1.2:51820")});
    REQUIRE(pl.set_peer("p", {host("10.0.0.9:51820"), relay_c("198.51.100.1:50000")}).ok());
    std::optional<steady::time_point> bound, last;
    std::optional<endpoint> cur;
    steady::time_point now{};
    for (; now < steady::time_point{} + 60s; now += 100ms) {
      auto acts = pl.tick(
          now, [&](const std::string&) { return handshake_info{last, cur}; }, [](const endpoint&) { return true; });
      for (const auto& a : acts) {
        if (a.what == connect_action::kind::bind_relay && !bound) bound = now;
        if (a.what == connect_action::kind::set_endpoint) cur = a.to;
      }
      // The relayed handshake completes 20 s after the fallback (four
      // lost WireGuard initiations later), or never.
      if (answers && bound && !last && now >= *bound + 20s) last = now;
      if (pl.snapshot()[0].type) break;
    }
    REQUIRE(bound);
    auto st = pl.snapshot();
    REQUIRE(st[0].type);
    if (answers) {
      CHECK(*st[0].type == connection_type::relayed);
      CHECK(now - *bound >= 20s);
    } else {
      CHECK(*st[0].type == connection_type::unreachable);
      CHECK(now - *bound >= relay_handshake_window);
      CHECK(now - *bound <= relay_handshake_window + 200ms);
    }
  }
}

TEST_CASE("a relayed peer retries direct periodically and moves off the relay when it works") {
  auto pl = planner();
  pl.set_local_candidates({host("192.168.1.2:51820")});
  REQUIRE(pl.set_peer("p", {srflx("203.0.113.9:4000"), relay_c("198.51.100.1:50000")}).ok());
  world w;
  w.works = ep("198.51.100.1:50000");
  steady::time_point now{};
  w.run(pl, now, 20s);
  REQUIRE(pl.snapshot()[0].type == connection_type::relayed);
  CHECK(std::count(w.seen.begin(), w.seen.end(),
                   connect_action{connect_action::kind::bind_relay, "p", ep("198.51.100.1:50000")}) == 1);

  // The retry after 120 s fails; all along traffic stays on the relay (the
  // direct initiations go to the pairs, the endpoint never leaves the relay).
  const size_t before_retry = w.seen.size();
  w.run(pl, now, 125s);
  for (size_t i = before_retry; i < w.seen.size(); ++i)
    if (w.seen[i].what == connect_action::kind::set_endpoint) CHECK(w.seen[i].to == ep("198.51.100.1:50000"));
  CHECK(std::any_of(w.seen.begin() + static_cast<long>(before_retry), w.seen.end(), [](const connect_action& a) {
    return a.what == connect_action::kind::initiate_handshake && a.to == ep("203.0.113.9:4000");
  }));
  // A handshake through the relay (the peer rekeying) roams the endpoint back.
  w.last = now;
  w.current = ep("198.51.100.1:50000");
  w.run(pl, now, 20s);
  auto st = pl.snapshot();
  CHECK(st[0].type == connection_type::relayed);
  CHECK(w.current == ep("198.51.100.1:50000"));
  CHECK(st[0].log.size() >= 2);
  CHECK(st[0].log.back().reason.find("staying on relay") != std::string::npos);

  // Later the NAT lets the reflexive pair through: the next retry wins.
  w.works = ep("203.0.113.9:4000");
  for (int i = 0; i < 30 && pl.snapshot()[0].type == connection_type::relayed; ++i) {
    w.last = now;
    w.run(pl, now, 10s);
  }
  CHECK(pl.snapshot()[0].type == connection_type::hole_punched);
  CHECK(pl.snapshot()[0].remote_endpoint == ep("203.0.113.9:4000"));
}

TEST_CASE("a peer already handshaking is left alone and a stale one is reconnected") {
  auto pl = planner();
  pl.set_local_candidates({host("192.168.1.2:51820")});
  REQUIRE(pl.set_peer("p", {host("10.0.0.9:51820")}).ok());
  world w;
  steady::time_point now = steady::time_point{} + 1000s;
  w.last = now;
  w.current = ep("10.0.0.9:51820");
  CHECK(w.step(pl, now).empty());
  CHECK(pl.snapshot()[0].type == connection_type::direct);
  now += 100s;  // older than 75 s: a connected peer is still left alone
  CHECK(w.step(pl, now).empty());
  now += 90s;  // older than 180 s: the session is lost, reconnect
  auto acts = w.step(pl, now);
  CHECK_FALSE(acts.empty());
  // The attempt opens with low-TTL punches only; the endpoint moves and the
  // initiation goes out once the punch lead is over.
  for (const auto& a : acts) CHECK(a.what == connect_action::kind::punch);
  now += 1500ms;
  acts = w.step(pl, now);
  REQUIRE_FALSE(acts.empty());
  CHECK(acts.front().what == connect_action::kind::set_endpoint);
  CHECK(acts.back().what == connect_action::kind::initiate_handshake);
}

TEST_CASE("peer and candidate counts are bounded") {
  auto pl = planner();
  std::vector<candidate> many(65, host("10.0.0.1:1"));
  CHECK_FALSE(pl.set_peer("p", many).ok());
}

TEST_CASE("new candidates during an attempt close its log entry and start another") {
  connect_planner pl = planner();
  pl.set_local_candidates({host("192.168.1.2:51820")});
  REQUIRE(pl.set_peer("p", {srflx("203.0.113.9:4000")}).ok());
  world w;
  auto now = steady::time_point{} + 1000s;
  w.run(pl, now, 2s);  // punching, nothing works
  REQUIRE(pl.snapshot()[0].log.size() == 1);
  CHECK(pl.snapshot()[0].log.back().reason == "in progress");
  REQUIRE(pl.set_peer("p", {srflx("203.0.113.9:5000")}).ok());
  w.works = ep("203.0.113.9:5000");
  w.run(pl, now, 20s);
  auto s = pl.snapshot()[0];
  REQUIRE(s.log.size() == 2);
  CHECK(s.log[0].reason == "superseded by new candidates");
  CHECK(s.log[1].outcome == connection_type::hole_punched);
  CHECK(s.type == connection_type::hole_punched);
}
