#include "net/wg/timers.hpp"

#include <doctest/doctest.h>

#include "net/wg/constants.hpp"

using namespace overlayd::wg;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {
const time_point t0{hours(10)};
}

TEST_CASE("an initiation arms a retransmit after REKEY_TIMEOUT plus at most 333 ms of jitter") {
  for (int i = 0; i < 50; ++i) {
    peer_timers t;
    t.handshake_initiated(t0);
    REQUIRE(t.next_deadline().has_value());
    CHECK(*t.next_deadline() >= t0 + seconds(5));
    CHECK(*t.next_deadline() <= t0 + milliseconds(5333));
    CHECK(!t.poll(t0 + milliseconds(4999)).any());
    const auto a = t.poll(t0 + milliseconds(5334));
    CHECK(a.send_initiation);
    CHECK(a.is_retry);
    CHECK(t.handshake_attempts() == 1);
  }
}

TEST_CASE("retransmits stop after REKEY_ATTEMPT_TIME: staged packets dropped, keys scheduled for zeroing") {
  peer_timers t;
  time_point now = t0;
  t.handshake_initiated(now);
  int retries = 0;
  bool gave_up = false;
  for (int i = 0; i < 100 && !gave_up; ++i) {
    now = *t.next_deadline();
    const auto a = t.poll(now);
    if (a.give_up) {
      gave_up = true;
    } else {
      REQUIRE(a.send_initiation);
      ++retries;
      t.handshake_initiated(now);  // the peer sent the retry
    }
  }
  CHECK(gave_up);
  CHECK(retries == int(max_timer_handshakes));  // 18 retries after the first initiation
  CHECK(now - t0 >= seconds(95));               // 19 timeouts of >= 5 s each
  CHECK(now - t0 <= milliseconds(19 * 5333));
  CHECK(t.zero_keys_armed());
  CHECK(*t.next_deadline() == now + 3 * reject_after_time);
  CHECK(t.poll(now + 3 * reject_after_time).zero_keys);
}

TEST_CASE("a completed handshake cancels the retransmit and resets the attempts") {
  peer_timers t;
  t.handshake_initiated(t0);
  t.poll(t0 + seconds(6));
  CHECK(t.handshake_attempts() == 1);
  t.handshake_initiated(t0 + seconds(6));
  t.handshake_complete();
  CHECK(!t.retransmit_armed());
  CHECK(t.handshake_attempts() == 0);
  CHECK(!t.poll(t0 + seconds(60)).any());
}

TEST_CASE("timer events arm and disarm as the table says") {
  struct row {
    const char* event;
    bool keepalive, new_handshake, zero_keys, persistent;
  };
  peer_timers t;
  t.set_persistent_keepalive(seconds(0), t0);
  auto state = [&] {
    return row{"", t.keepalive_armed(), t.new_handshake_armed(), t.zero_keys_armed(), t.persistent_armed()};
  };
  auto expect = [&](const row& want) {
    const row got = state();
    INFO(want.event);
    CHECK(got.keepalive == want.keepalive);
    CHECK(got.new_handshake == want.new_handshake);
    CHECK(got.zero_keys == want.zero_keys);
    CHECK(got.persistent == want.persistent);
  };
  t.data_received(t0);
  expect({"data received arms keepalive", true, false, false, false});
  t.authenticated_sent();
  expect({"any authenticated send cancels it", false, false, false, false});
  t.data_sent(t0);
  expect({"data sent arms new-handshake", false, true, false, false});
  t.authenticated_received();
  expect({"any authenticated receive cancels it", false, false, false, false});
  t.session_derived(t0);
  expect({"a session arms zeroing", false, false, true, false});
  t.authenticated_traversal(t0);
  expect({"traversal without persistent keepalive arms nothing", false, false, true, false});
  t.set_persistent_keepalive(seconds(25), t0);
  expect({"persistent keepalive starts at once", false, false, true, true});
  t.stop_all();
  expect({"stop_all disarms everything", false, false, false, false});
  CHECK(!t.next_deadline().has_value());
}

TEST_CASE("keepalive fires KEEPALIVE_TIMEOUT after data and once more if data kept coming") {
  peer_timers t;
  t.data_received(t0);
  t.data_received(t0 + seconds(3));  // already armed: remember another one is needed
  CHECK(!t.poll(t0 + seconds(9)).send_keepalive);
  CHECK(t.poll(t0 + seconds(10)).send_keepalive);
  CHECK(t.keepalive_armed());
  CHECK(t.poll(t0 + seconds(20)).send_keepalive);
  CHECK(!t.keepalive_armed());
}

TEST_CASE("sent data with no reply for KEEPALIVE + REKEY_TIMEOUT starts a new handshake") {
  peer_timers t;
  t.data_sent(t0);
  t.data_sent(t0 + seconds(5));  // does not push the deadline
  CHECK(!t.poll(t0 + milliseconds(14999)).send_initiation);
  const auto a = t.poll(t0 + milliseconds(15334));
  CHECK(a.send_initiation);
  CHECK(!a.is_retry);
}

TEST_CASE("persistent keepalive repeats after each authenticated packet") {
  peer_timers t;
  t.set_persistent_keepalive(seconds(25), t0);
  CHECK(t.poll(t0).send_keepalive);
  t.authenticated_traversal(t0);  // the keepalive went out
  CHECK(!t.poll(t0 + seconds(24)).send_keepalive);
  t.authenticated_traversal(t0 + seconds(20));  // other traffic pushes it back
  CHECK(!t.poll(t0 + seconds(44)).send_keepalive);
  CHECK(t.poll(t0 + seconds(45)).send_keepalive);
}
