#include "net/nat/stun_message.hpp"

#include <doctest/doctest.h>

#include <cctype>

#include "net/nat/crc32.hpp"

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::net::nat;

namespace {

bytes hex(std::string_view s) {
  bytes out;
  int hi = -1;
  for (char ch : s) {
    if (!std::isxdigit(static_cast<unsigned char>(ch))) continue;
    int v = std::isdigit(static_cast<unsigned char>(ch)) ? ch - '0' : (std::tolower(ch) - 'a' + 10);
    if (hi < 0) hi = v;
    else { out.push_back(uint8_t(hi << 4 | v)); hi = -1; }
  }
  return out;
}

byte_span str(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// RFC 5769 test vectors (sections 2.1 to 2.4).
const bytes rfc_request = hex(
    "00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    "80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74"
    "00 24 00 04 6e 00 01 ff 80 29 00 08 93 2f f9 b1 51 26 3b 36"
    "00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20"
    "00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2"
    "80 28 00 04 e5 7a 3b cf");
const bytes rfc_ipv4 = hex(
    "01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"
    "00 20 00 08 00 01 a1 47 e1 12 a6 43"
    "00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7"
    "80 28 00 04 c0 7d 4c 96");
const bytes rfc_ipv6 = hex(
    "01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"
    "00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"
    "00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41"
    "80 28 00 04 c8 fb 0b 4c");
const bytes rfc_long_term = hex(
    "00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e"
    "00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00"
    "00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41"
    "00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00"
    "00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66");
const std::string short_term_password = "VOkJxbRl1RmTxUk/WvJxBt";
const transaction_id rfc_txn = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

}  // namespace

TEST_CASE("CRC-32 matches the standard check value") {
  CHECK(crc32(str("123456789")) == 0xCBF43926u);
}

TEST_CASE("RFC 5769 sample request parses, verifies and re-encodes byte for byte") {
  auto m = parse_stun(rfc_request);
  REQUIRE(m.ok());
  CHECK(m->method == stun_method::binding);
  CHECK(m->cls == stun_class::request);
  CHECK(m->txn == rfc_txn);
  CHECK(m->has_fingerprint);
  CHECK(m->string_attr(stun_attr::software) == "STUN test client");
  CHECK(m->string_attr(stun_attr::username) == "evtj:h6vY");
  CHECK(m->u32_attr(stun_attr::priority) == 0x6e0001ffu);
  CHECK(m->check_integrity(str(short_term_password)));
  CHECK_FALSE(m->check_integrity(str("wrong")));
  // The RFC pads USERNAME with spaces; padding is "any value", so rebuild
  // with those bytes and check MI and FINGERPRINT come out identical.
  const auto* ice = m->find(stun_attr::ice_controlled);
  REQUIRE(ice);
  bytes user = hex("65 76 74 6a 3a 68 36 76 59");
  auto built = stun_builder(stun_method::binding, stun_class::request, rfc_txn)
                   .add_string(stun_attr::software, "STUN test client")
                   .add_u32(stun_attr::priority, 0x6e0001ff)
                   .add(stun_attr::ice_controlled, ice->value)
                   .add(stun_attr::username, user)
                   .finish(std::nullopt, false);
  // The RFC pads with spaces; ours pads with zeros. The header length
  // differs (no MI/FINGERPRINT yet), so compare from the cookie on.
  built[built.size() - 3] = built[built.size() - 2] = built[built.size() - 1] = 0x20;
  CHECK(bytes(built.begin() + 4, built.end()) ==
        bytes(rfc_request.begin() + 4, rfc_request.begin() + long(built.size())));
}

TEST_CASE("RFC 5769 IPv4 response yields 192.0.2.1:32853") {
  auto m = parse_stun(rfc_ipv4);
  REQUIRE(m.ok());
  CHECK(m->cls == stun_class::success);
  CHECK(m->mapped_address() == endpoint::parse("192.0.2.1:32853").value());
  CHECK(m->check_integrity(str(short_term_password)));
  CHECK(encode_xor_address(endpoint::parse("192.0.2.1:32853").value(), rfc_txn) ==
        m->find(stun_attr::xor_mapped_address)->value);
}

TEST_CASE("RFC 5769 IPv6 response yields the documented v6 endpoint") {
  auto m = parse_stun(rfc_ipv6);
  REQUIRE(m.ok());
  auto want = endpoint::parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853").value();
  CHECK(m->mapped_address() == want);
  CHECK(m->check_integrity(str(short_term_password)));
  CHECK(encode_xor_address(want, rfc_txn) == m->find(stun_attr::xor_mapped_address)->value);
}

TEST_CASE("RFC 5769 long-term request verifies with MD5(user:realm:pass) and re-encodes exactly") {
  auto m = parse_stun(rfc_long_term);
  REQUIRE(m.ok());
  CHECK_FALSE(m->has_fingerprint);
  auto user = m->string_attr(stun_attr::username).value();
  CHECK(m->string_attr(stun_attr::realm) == "example.org");
  CHECK(m->string_attr(stun_attr::nonce) == "f//499k954d6OL34oL9FSTvy64sA");
  auto key = stun_long_term_key(user, "example.org", "TheMatrIX");
  CHECK(m->check_integrity(key));
  CHECK_FALSE(m->check_integrity(stun_long_term_key(user, "example.org", "thematrix")));
  auto again = stun_builder(stun_method::binding, stun_class::request, m->txn)
                   .add_string(stun_attr::username, user)
                   .add_string(stun_attr::nonce, "f//499k954d6OL34oL9FSTvy64sA")
                   .add_string(stun_attr::realm, "example.org")
                   .finish(byte_span(key), false);
  CHECK(again == rfc_long_term);
}

TEST_CASE("built messages round-trip with integrity and fingerprint for every class") {
  const std::pair<stun_method, stun_class> cases[] = {
      {stun_method::binding, stun_class::request},   {stun_method::binding, stun_class::success},
      {stun_method::allocate, stun_class::error},    {stun_method::send, stun_class::indication},
      {stun_method::channel_bind, stun_class::request}, {stun_method::create_permission, stun_class::success},
  };
  bytes key = {1, 2, 3};
  for (auto [meth, cls] : cases) {
    auto txn = random_transaction_id();
    auto ep = endpoint::parse("[fd00::7]:4000").value();
    auto wire = stun_builder(meth, cls, txn)
                    .add_xor_address(stun_attr::xor_mapped_address, ep)
                    .add_string(stun_attr::software, "x")
                    .add_error(438, "Stale Nonce")
                    .finish(byte_span(key), true);
    auto m = parse_stun(wire);
    REQUIRE(m.ok());
    CHECK(m->method == meth);
    CHECK(m->cls == cls);
    CHECK(m->txn == txn);
    CHECK(m->mapped_address() == ep);
    CHECK(m->error_code()->code == 438);
    CHECK(m->error_code()->reason == "Stale Nonce");
    CHECK(m->check_integrity(key));
    CHECK(looks_like_stun(wire));
  }
}

TEST_CASE("MAPPED-ADDRESS is the fallback when XOR-MAPPED-ADDRESS is absent") {
  auto ep = endpoint::parse("198.51.100.4:999").value();
  auto wire = stun_builder(stun_method::binding, stun_class::success, random_transaction_id())
                  .add_address(stun_attr::mapped_address, ep)
                  .finish(std::nullopt, false);
  CHECK(parse_stun(wire)->mapped_address() == ep);
}

TEST_CASE("attributes after MESSAGE-INTEGRITY are ignored and unknown ones are skipped") {
  bytes key = {9};
  auto wire = stun_builder(stun_method::binding, stun_class::request, random_transaction_id())
                  .add_string(0x7777, "unknown-required")
                  .add_string(0xC001, "unknown-optional")
                  .finish(byte_span(key), false);
  // Append a DATA attribute after MI and fix the length.
  bytes extra = {0x00, 0x13, 0x00, 0x04, 1, 2, 3, 4};
  wire.insert(wire.end(), extra.begin(), extra.end());
  set_u16(wire, 2, uint16_t(wire.size() - 20));
  auto m = parse_stun(wire);
  REQUIRE(m.ok());
  CHECK(m->find(stun_attr::data) == nullptr);
  CHECK(m->check_integrity(key));
  CHECK(m->unknown_required() == std::vector<uint16_t>{0x7777});
}

TEST_CASE("malformed STUN messages are rejected") {
  const bytes good = rfc_ipv4;
  auto mutate = [&](auto f) { bytes b = good; f(b); return b; };
  const std::pair<const char*, bytes> cases[] = {
      {"empty", {}},
      {"19 bytes", bytes(good.begin(), good.begin() + 19)},
      {"one byte short", bytes(good.begin(), good.end() - 1)},
      {"top bit set", mutate([](bytes& b) { b[0] |= 0x80; })},
      {"bad cookie", mutate([](bytes& b) { b[4] ^= 1; })},
      {"length not multiple of 4", mutate([](bytes& b) { set_u16(b, 2, 0x3d); })},
      {"length too long", mutate([](bytes& b) { set_u16(b, 2, 0x40); })},
      {"attribute overruns", mutate([](bytes& b) { set_u16(b, 22, 0x40); })},
      {"fingerprint flipped", mutate([](bytes& b) { b[b.size() - 1] ^= 1; })},
      {"body bit flipped (fingerprint catches it)", mutate([](bytes& b) { b[30] ^= 1; })},
      {"short MI", mutate([](bytes& b) { set_u16(b, 46, 0x10); })},
      {"trailing bytes", mutate([](bytes& b) { b.push_back(0); b.push_back(0); b.push_back(0); b.push_back(0); })},
  };
  for (const auto& [name, b] : cases) {
    CAPTURE(name);
    CHECK_FALSE(parse_stun(b).ok());
  }
  // Attribute after FINGERPRINT.
  bytes after = good;
  bytes extra = {0x80, 0x22, 0x00, 0x00};
  after.insert(after.end(), extra.begin(), extra.end());
  set_u16(after, 2, uint16_t(after.size() - 20));
  CHECK_FALSE(parse_stun(after).ok());
}

TEST_CASE("XOR address values with bad families or lengths are rejected") {
  CHECK_FALSE(decode_xor_address(hex("00 03 00 00 01 02 03 04"), rfc_txn));
  CHECK_FALSE(decode_xor_address(hex("00 01 00 00 01 02 03"), rfc_txn));
  CHECK_FALSE(decode_plain_address(hex("00 02 00 00 01 02 03 04")));
}
