#include "net/wg/noise.hpp"

#include <doctest/doctest.h>

#include <cstring>

#include "crypto/aead.hpp"
#include "net/wg/cookie.hpp"
#include "net/wg/keypair.hpp"
#include "net/wg/test_util.hpp"

using namespace overlayd;
using namespace overlayd::wg;
using namespace overlayd::wg::testing;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

namespace {

// Expected bytes from an independent Python reference of the whitepaper
// (hashlib.blake2s, hmac, and the `cryptography` package's X25519 and
// ChaCha20Poly1305): statics 0x01.. (initiator) and 0x02.. (responder),
// ephemerals 0x03.. and 0x04.., PSK 0x05.., timestamp 1700000000 s,
// indices 0x11223344 / 0x55667788.
constexpr const char* kat_initiation =
    "01000000443322115dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef220a26599fb2188bb723276fc1"
    "73af67616c817fc32fd04d686d87ec152fac10eed2bda3bb3b6f1eded6977684082284d817fb46b3a99b6be3bd273ed6533c6863"
    "5663c21c99296e34deaf1c8fe94fa4a2254a3a56cb996456ae5b324a00000000000000000000000000000000";
constexpr const char* kat_response =
    "020000008877665544332211ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10b5176a10602599"
    "47cb4f5a7beef58df6998fda57eb8180ee4cc29d2d24386638100000000000000000000000000000000";
constexpr const char* kat_data = "04000000887766550000000000000000e7cffac81f4f2032e3208c13bcd27473f75a603bef";

handshake peer_handshake(const static_identity& self, const crypto::public_key& remote) {
  handshake hs;
  hs.remote_static = remote;
  REQUIRE(precompute_static(hs, self).ok());
  return hs;
}

const wall_time kat_time{seconds(1'700'000'000)};

}  // namespace

TEST_CASE("the Noise chain starts from HASH(construction) and HASH(C || identifier)") {
  const auto& init = noise_chain_init();
  CHECK(tohex(init.chaining_key) == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  CHECK(tohex(init.hash) == "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

TEST_CASE("handshake and first data packet match an independent reference byte for byte") {
  const auto ini = identity_of(1);
  const auto res = identity_of(2);
  handshake hi = peer_handshake(ini, res.public_key);
  handshake hr = peer_handshake(res, ini.public_key);
  const auto psk = key_of(5);
  hi.preshared = psk;
  hr.preshared = psk;

  // Initiator → responder
  auto init = create_initiation(hi, ini, 0x11223344, kat_time, key_of(3));
  REQUIRE(init.ok());
  cookie_maker mi;
  mi.set_remote(res.public_key);
  mi.add_macs(init->mutable_bytes(), steady_clock::time_point{});
  CHECK(tohex(init->bytes()) == kat_initiation);

  auto opened = open_initiation(*init, res);
  REQUIRE(opened.ok());
  CHECK(opened->initiator_static == ini.public_key);
  REQUIRE(finish_initiation(hr, *opened, steady_clock::time_point{}).ok());

  // Responder → initiator
  auto resp = create_response(hr, 0x55667788, key_of(4));
  REQUIRE(resp.ok());
  cookie_maker mr;
  mr.set_remote(ini.public_key);
  mr.add_macs(resp->mutable_bytes(), steady_clock::time_point{});
  CHECK(tohex(resp->bytes()) == kat_response);
  REQUIRE(consume_response(hi, ini, *resp).ok());

  auto ki = derive_keys(hi);
  auto kr = derive_keys(hr);
  REQUIRE(ki.ok());
  REQUIRE(kr.ok());
  CHECK(ki->initiator);
  CHECK(!kr->initiator);
  CHECK(ki->send == kr->recv);
  CHECK(ki->recv == kr->send);
  CHECK(ki->local_index == 0x11223344u);
  CHECK(ki->remote_index == 0x55667788u);
  CHECK(hi.state == handshake_state::zeroed);
  CHECK(hi.chaining_key.is_zero());

  // First transport packet from the initiator.
  keypair kp(std::move(*ki), steady_clock::time_point{});
  std::vector<uint8_t> buf(16 + 5 + 16);
  std::memcpy(buf.data() + 16, "hello", 5);
  REQUIRE(kp.encrypt(buf, 5, steady_clock::time_point{}) == buf.size());
  CHECK(tohex(buf) == kat_data);
}

TEST_CASE("handshakes between random identities agree on keys, with and without PSK") {
  for (bool with_psk : {false, true}) {
    const auto ini = static_identity::from_private(crypto::generate_private_key());
    const auto res = static_identity::from_private(crypto::generate_private_key());
    handshake hi = peer_handshake(ini, res.public_key);
    handshake hr = peer_handshake(res, ini.public_key);
    if (with_psk) {
      hi.preshared = crypto::generate_private_key();
      hr.preshared = hi.preshared;
    }
    auto init = create_initiation(hi, ini, 7, wall_time{seconds(100)});
    REQUIRE(init.ok());
    auto opened = open_initiation(*init, res);
    REQUIRE(opened.ok());
    REQUIRE(finish_initiation(hr, *opened, steady_clock::time_point{}).ok());
    auto resp = create_response(hr, 9);
    REQUIRE(resp.ok());
    REQUIRE(consume_response(hi, ini, *resp).ok());
    auto ki = derive_keys(hi);
    auto kr = derive_keys(hr);
    REQUIRE(ki.ok());
    REQUIRE(kr.ok());
    CHECK(ki->send == kr->recv);
    CHECK(ki->recv == kr->send);
  }
}

TEST_CASE("a PSK mismatch fails the response") {
  const auto ini = identity_of(1);
  const auto res = identity_of(2);
  handshake hi = peer_handshake(ini, res.public_key);
  handshake hr = peer_handshake(res, ini.public_key);
  hr.preshared = key_of(9);
  auto init = create_initiation(hi, ini, 1, kat_time);
  auto opened = open_initiation(*init, res);
  REQUIRE(opened.ok());
  REQUIRE(finish_initiation(hr, *opened, steady_clock::time_point{}).ok());
  auto resp = create_response(hr, 2);
  REQUIRE(resp.ok());
  CHECK(!consume_response(hi, ini, *resp).ok());
  CHECK(hi.state == handshake_state::created_initiation);  // unchanged on failure
}

TEST_CASE("the responder rejects replayed, stale and too-frequent initiations") {
  const auto ini = identity_of(1);
  const auto res = identity_of(2);
  handshake hi = peer_handshake(ini, res.public_key);
  handshake hr = peer_handshake(res, ini.public_key);
  const steady_clock::time_point t0{hours(5)};

  auto first = create_initiation(hi, ini, 1, kat_time);
  auto opened1 = open_initiation(*first, res);
  REQUIRE(finish_initiation(hr, *opened1, t0).ok());
  SUBCASE("the same initiation again is a replay") {
    CHECK(!finish_initiation(hr, *opened1, t0 + seconds(10)).ok());
  }
  SUBCASE("an older timestamp is a replay") {
    auto old = create_initiation(hi, ini, 2, kat_time - seconds(1));
    CHECK(!finish_initiation(hr, *open_initiation(*old, res), t0 + seconds(10)).ok());
  }
  SUBCASE("a newer timestamp within 20 ms of the last consumption is a flood") {
    auto next = create_initiation(hi, ini, 3, kat_time + seconds(1));
    auto opened = open_initiation(*next, res);
    CHECK(!finish_initiation(hr, *opened, t0 + milliseconds(10)).ok());
    CHECK(finish_initiation(hr, *opened, t0 + milliseconds(20)).ok());
  }
}

TEST_CASE("tampering with any byte of an initiation before the MACs breaks it") {
  const auto ini = identity_of(1);
  const auto res = identity_of(2);
  handshake hi = peer_handshake(ini, res.public_key);
  auto init = create_initiation(hi, ini, 1, kat_time);
  REQUIRE(init.ok());
  for (size_t i = 8; i < msg_initiation::mac1_offset; ++i) {
    msg_initiation m = *init;
    m.mutable_bytes()[i] ^= 0x40;
    handshake hr = peer_handshake(res, ini.public_key);
    auto opened = open_initiation(m, res);
    const bool ok = opened.ok() && finish_initiation(hr, *opened, steady_clock::time_point{}).ok();
    CHECK_MESSAGE(!ok, "byte " << i);
  }
}

TEST_CASE("an initiation for another responder does not open") {
  const auto ini = identity_of(1);
  const auto res = identity_of(2);
  const auto other = identity_of(3);
  handshake hi = peer_handshake(ini, res.public_key);
  auto init = create_initiation(hi, ini, 1, kat_time);
  CHECK(!open_initiation(*init, other).ok());
}

TEST_CASE("a response to an unknown index or in the wrong state is refused") {
  const auto ini = identity_of(1);
  const auto res = identity_of(2);
  handshake hi = peer_handshake(ini, res.public_key);
  handshake hr = peer_handshake(res, ini.public_key);
  auto init = create_initiation(hi, ini, 1, kat_time);
  REQUIRE(finish_initiation(hr, *open_initiation(*init, res), steady_clock::time_point{}).ok());
  auto resp = create_response(hr, 2);
  msg_response wrong = *resp;
  store_le32(wrong.receiver, 99);
  CHECK(!consume_response(hi, ini, wrong).ok());
  REQUIRE(consume_response(hi, ini, *resp).ok());
  CHECK(!consume_response(hi, ini, *resp).ok());  // state is consumed_response now
  CHECK(!create_response(hi, 3).ok());
  handshake fresh;
  CHECK(!derive_keys(fresh).ok());
}
