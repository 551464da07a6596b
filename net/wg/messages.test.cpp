#include "net/wg/messages.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace overlayd::wg;

namespace {

std::vector<uint8_t> message(uint8_t type, size_t size) {
  std::vector<uint8_t> b(size, 0xaa);
  b[0] = type;
  b[1] = b[2] = b[3] = 0;
  return b;
}

}  // namespace

TEST_CASE("message types are recognised only with their exact sizes") {
  struct row {
    uint8_t type;
    size_t size;
    std::optional<message_type> expect;
  };
  const row table[] = {
      {1, 148, message_type::initiation},
      {1, 147, std::nullopt},
      {1, 149, std::nullopt},
      {2, 92, message_type::response},
      {2, 91, std::nullopt},
      {3, 64, message_type::cookie_reply},
      {3, 65, std::nullopt},
      {4, 32, message_type::transport},
      {4, 31, std::nullopt},
      {4, 1500, message_type::transport},
      {5, 148, std::nullopt},
      {0, 148, std::nullopt},
  };
  for (const auto& r : table) {
    INFO("type " << int(r.type) << " size " << r.size);
    CHECK(message_type_of(message(r.type, r.size)) == r.expect);
  }
  CHECK(!message_type_of({}).has_value());
  auto b = message(1, 148);
  b[2] = 1;  // reserved bytes must be zero
  CHECK(!message_type_of(b).has_value());
  CHECK(!parse_initiation(b).ok());
}

TEST_CASE("parsers check type and length and copy the fields") {
  auto b = message(1, 148);
  for (size_t i = 4; i < 8; ++i) b[i] = uint8_t(i);
  auto m = parse_initiation(b);
  REQUIRE(m.ok());
  CHECK(m->sender_index() == 0x07060504u);
  CHECK(!parse_response(b).ok());
  CHECK(!parse_initiation(std::span(b).first(147)).ok());
  CHECK(parse_response(message(2, 92)).ok());
  CHECK(parse_cookie_reply(message(3, 64)).ok());
  CHECK(!parse_cookie_reply(message(3, 63)).ok());
}

TEST_CASE("transport header round-trips receiver and little-endian counter") {
  std::vector<uint8_t> b(48, 0);
  write_transport_header(b.data(), 0xdeadbeef, 0x0102030405060708ull);
  CHECK(b[0] == 4);
  CHECK(b[8] == 0x08);
  auto v = parse_transport(b);
  REQUIRE(v.ok());
  CHECK(v->receiver == 0xdeadbeef);
  CHECK(v->counter == 0x0102030405060708ull);
  CHECK(v->ciphertext.size() == 32);
  CHECK(!parse_transport(std::span(b).first(31)).ok());
}

TEST_CASE("padding rounds plaintext up to 16 bytes without passing the MTU") {
  struct row {
    size_t len, mtu, pad;
  };
  const row table[] = {{0, 1420, 0},  {1, 1420, 15}, {16, 1420, 0},   {17, 1420, 15},
                       {1419, 1420, 1}, {1420, 1420, 0}, {1410, 1412, 2}, {1500, 1420, 0}};
  for (const auto& r : table) {
    INFO(r.len << "/" << r.mtu);
    CHECK(padding_for(r.len, r.mtu) == r.pad);
  }
}
