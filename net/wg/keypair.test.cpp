#include "net/wg/keypair.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>

#include "net/wg/test_util.hpp"

using namespace overlayd;
using namespace overlayd::wg;
using namespace overlayd::wg::testing;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const time_point t0{hours(3)};

// A matched pair: a's send key is b's receive key and vice versa.
std::pair<std::shared_ptr<keypair>, std::shared_ptr<keypair>> pair_at(time_point created, bool a_initiates = true) {
  session_keys a, b;
  a.send = key_of(1);
  a.recv = key_of(2);
  b.send = key_of(2);
  b.recv = key_of(1);
  a.local_index = b.remote_index = 100;
  a.remote_index = b.local_index = 200;
  a.initiator = a_initiates;
  b.initiator = !a_initiates;
  return {std::make_shared<keypair>(std::move(a), created), std::make_shared<keypair>(std::move(b), created)};
}

using bytes_t = std::vector<uint8_t>;

std::vector<uint8_t> seal(keypair& kp, std::string_view text, time_point now) {
  std::vector<uint8_t> buf(16 + text.size() + 16);
  std::memcpy(buf.data() + 16, text.data(), text.size());
  const size_t n = kp.encrypt(buf, text.size(), now);
  buf.resize(n);
  return buf;
}

}  // namespace

TEST_CASE("transport data round-trips in place and is not accepted twice") {
  auto [a, b] = pair_at(t0);
  auto pkt = seal(*a, "hello", t0);
  REQUIRE(pkt.size() == 37);
  auto copy = pkt;
  auto n = b->decrypt(copy, t0);
  REQUIRE(n.ok());
  CHECK(*n == 5);
  CHECK(std::memcmp(copy.data() + 16, "hello", 5) == 0);
  copy = pkt;
  CHECK(!b->decrypt(copy, t0).ok());  // replay
  auto bad = seal(*a, "x", t0);
  bad.back() ^= 1;
  CHECK(!b->decrypt(bad, t0).ok());
  auto good_after_bad = seal(*a, "y", t0);
  CHECK(b->decrypt(good_after_bad, t0).ok());
  auto wrong = seal(*b, "to a", t0);
  CHECK(!b->decrypt(wrong, t0).ok());  // addressed to a's index
  CHECK(a->decrypt(wrong, t0).ok());
}

TEST_CASE("a keypair refuses to send or receive at REJECT_AFTER_TIME") {
  auto [a, b] = pair_at(t0);
  auto pkt = seal(*a, "late", t0 + seconds(179));
  CHECK(!pkt.empty());
  CHECK(a->can_send(t0 + seconds(179)));
  CHECK(!a->can_send(t0 + seconds(180)));
  CHECK(seal(*a, "too late", t0 + seconds(180)).empty());
  CHECK(!b->decrypt(pkt, t0 + seconds(180)).ok());
}

TEST_CASE("a keypair refuses counters at REJECT_AFTER_MESSAGES and asks for a rekey at REKEY_AFTER_MESSAGES") {
  auto [a, b] = pair_at(t0, false);  // a is the responder: only the counter triggers rekey
  CHECK(!a->wants_rekey_on_send(t0 + seconds(150)));
  a->set_send_counter_for_test(rekey_after_messages);
  CHECK(a->wants_rekey_on_send(t0));
  a->set_send_counter_for_test(reject_after_messages - 1);
  auto last = seal(*a, "last", t0);
  CHECK(!last.empty());
  CHECK(b->decrypt(last, t0).ok());
  CHECK(seal(*a, "one too many", t0).empty());
  CHECK(!a->can_send(t0));
  CHECK(seal(*a, "still none", t0).empty());
}

TEST_CASE("the initiator rekeys after REKEY_AFTER_TIME and once more near REJECT on receive") {
  auto [a, b] = pair_at(t0, true);
  CHECK(!a->wants_rekey_on_send(t0 + seconds(119)));
  CHECK(a->wants_rekey_on_send(t0 + seconds(120)));
  CHECK(!b->wants_rekey_on_send(t0 + seconds(170)));
  CHECK(!a->wants_rekey_on_receive(t0 + seconds(164)));
  CHECK(a->wants_rekey_on_receive(t0 + seconds(165)));
  CHECK(!b->wants_rekey_on_receive(t0 + seconds(170)));
}

TEST_CASE("a zeroed keypair neither encrypts nor decrypts") {
  auto [a, b] = pair_at(t0);
  auto pkt = seal(*a, "x", t0);
  a->zero();
  b->zero();
  CHECK(seal(*a, "y", t0).empty());
  CHECK(!b->decrypt(pkt, t0).ok());
}

TEST_CASE("keypair slots follow WireGuard's confirmation rules") {
  auto mk = [](uint32_t idx, bool initiator) {
    session_keys k;
    k.local_index = idx;
    k.initiator = initiator;
    return std::make_shared<keypair>(std::move(k), t0);
  };
  keypair_set s;
  auto r1 = mk(1, false);
  CHECK(s.add(r1).empty());
  CHECK(s.next() == r1);
  CHECK(s.current() == nullptr);  // responder may not send yet
  bool promoted = false;
  s.confirm(r1.get(), &promoted);
  CHECK(promoted);
  CHECK(s.current() == r1);
  CHECK(s.next() == nullptr);

  auto i2 = mk(2, true);  // initiator keypair: current at once
  CHECK(s.add(i2).empty());
  CHECK(s.current() == i2);
  CHECK(s.previous() == r1);

  auto r3 = mk(3, false);
  auto gone = s.add(r3);  // responder again: previous dropped, waits in next
  REQUIRE(gone.size() == 1);
  CHECK(gone[0] == r1);
  CHECK(s.current() == i2);
  CHECK(s.next() == r3);
  CHECK(s.find(3) == r3);
  CHECK(s.find(2) == i2);
  CHECK(s.find(1) == nullptr);

  s.confirm(i2.get(), &promoted);  // data on current confirms nothing
  CHECK(!promoted);

  auto i4 = mk(4, true);  // initiator while next is pending: next becomes previous
  gone = s.add(i4);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0] == i2);
  CHECK(s.current() == i4);
  CHECK(s.previous() == r3);
  CHECK(s.next() == nullptr);
  CHECK(s.clear().size() == 2);
  CHECK(s.find(4) == nullptr);
}

TEST_CASE("concurrent senders never reuse a counter and concurrent receivers accept each packet once") {
  auto [a, b] = pair_at(t0);
  constexpr int threads = 4, per_thread = 2000;
  std::vector<std::vector<bytes_t>> out(threads);
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) out[t].push_back(seal(*a, "payload", t0));
      });
    for (auto& th : ts) th.join();
  }
  std::vector<bytes_t> all;
  std::set<uint64_t> counters;
  for (auto& v : out)
    for (auto& p : v) {
      counters.insert(load_le64(p.data() + 8));
      all.push_back(p);
    }
  CHECK(counters.size() == size_t(threads * per_thread));
  // Every packet twice, decrypted by two threads racing on the replay window.
  std::vector<bytes_t> twice = all;
  twice.insert(twice.end(), all.begin(), all.end());
  std::atomic<int> accepted{0};
  std::atomic<size_t> next{0};
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; ++t)
      ts.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < twice.size();) {
          auto copy = twice[i];
          if (b->decrypt(copy, t0).ok()) accepted.fetch_add(1);
        }
      });
    for (auto& th : ts) th.join();
  }
  CHECK(accepted.load() == threads * per_thread);
}
