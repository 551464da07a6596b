#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "net/wg/offload.hpp"

using namespace overlayd::wg;

namespace {

using bytes = std::vector<uint8_t>;

void put16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8), p[1] = uint8_t(v); }
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

// An IPv4/TCP packet 10.0.0.1:1000 -> 10.0.0.2:2000 with a 12-byte
// timestamp option, flags ACK|PSH, `payload` bytes of a counting pattern.
bytes tcp4(uint32_t seq, size_t payload, uint8_t flags = 0x18, size_t first_byte = 0) {
  bytes p(20 + 32 + payload);
  p[0] = 0x45;
  put16(&p[2], uint16_t(p.size()));
  put16(&p[4], 77);
  p[6] = 0x40;  // DF
  p[8] = 64;
  p[9] = 6;
  p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
  uint8_t* t = &p[20];
  put16(t, 1000), put16(t + 2, 2000);
  t[4] = uint8_t(seq >> 24), t[5] = uint8_t(seq >> 16), t[6] = uint8_t(seq >> 8), t[7] = uint8_t(seq);
  t[11] = 9;  // ack
  t[12] = 8 << 4;
  t[13] = flags;
  put16(t + 14, 500);
  t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10;  // NOP NOP TS
  for (size_t i = 0; i < payload; ++i) p[52 + i] = uint8_t(first_byte + i);
  return p;
}

bool ipv4_checksum_ok(const uint8_t* p) { return csum_fold(csum_add(0, p, 20)) == 0; }
bool tcp_checksum_ok(const uint8_t* p, size_t len) {
  uint32_t s = csum_add(0, p + 12, 8) + 6 + uint32_t(len - 20);
  return csum_fold(csum_add(s, p + 20, len - 20)) == 0;
}

std::vector<bytes> split(const vnet_hdr& h, bytes pkt, size_t mtu, int* n = nullptr) {
  std::vector<bytes> out;
  int r = split_offload_packet(h, pkt, mtu, [&](size_t len) {
    out.emplace_back(len);
    return out.back().data();
  });
  if (n) *n = r;
  return out;
}

}  // namespace

TEST_CASE("the internet checksum matches RFC 1071's example") {
  const uint8_t d[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  CHECK(csum_fold(csum_add(0, d, sizeof d)) == uint16_t(~0xddf2));
  const uint8_t odd[] = {0x01, 0x02, 0x03};
  CHECK(csum_fold(csum_add(0, odd, 3)) == uint16_t(~(0x0102 + 0x0300)));
}

TEST_CASE("the internet checksum equals a plain big-endian word sum at every length and offset") {
  // Reference: RFC 1071 as written, one network-order 16-bit word at a time.
  auto reference = [](uint32_t sum, const uint8_t* p, size_t len) {
    uint64_t s = sum;
    for (size_t i = 0; i + 1 < len; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
    if (len % 2) s += uint32_t(p[len - 1]) << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
  };
  std::vector<uint8_t> buf(1600);
  uint32_t x = 12345;
  for (auto& b : buf) b = uint8_t((x = x * 1103515245 + 12345) >> 16);
  std::fill(buf.begin() + 1000, buf.begin() + 1100, 0xff);  // long carry chains
  for (size_t off = 0; off < 9; ++off)
    for (size_t len = 0; len + off <= buf.size(); len += (len < 80 ? 1 : 37)) {
      CAPTURE(off);
      CAPTURE(len);
      CHECK(csum_fold(csum_add(0, buf.data() + off, len)) == reference(0, buf.data() + off, len));
      CHECK(csum_fold(csum_add(0xfffffff0u, buf.data() + off, len)) ==
            reference(0xfffffff0u, buf.data() + off, len));
    }
}

TEST_CASE("a TSO super-packet is cut into MTU-sized segments with valid checksums") {
  bytes big = tcp4(1000, 3000);
  vnet_hdr h;
  h.flags = 1;
  h.gso_type = 1;
  h.gso_size = 1368;
  h.csum_start = 20;
  h.csum_offset = 16;
  int n = 0;
  auto segs = split(h, big, 1420, &n);
  REQUIRE(n == 3);
  REQUIRE(segs.size() == 3);
  size_t off = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    CAPTURE(i);
    const auto& s = segs[i];
    const size_t pl = i < 2 ? 1368 : 3000 - 2 * 1368;
    CHECK(s.size() == 52 + pl);
    CHECK(s.size() <= 1420);
    CHECK(ipv4_checksum_ok(s.data()));
    CHECK(tcp_checksum_ok(s.data(), s.size()));
    CHECK(get32(&s[24]) == 1000 + off);
    CHECK(((s[33] & 0x08) != 0) == (i == 2));  // PSH only on the last
    CHECK(std::memcmp(&s[52], &big[52 + off], pl) == 0);
    off += pl;
  }
}

TEST_CASE("segments that would exceed the MTU are refused") {
  vnet_hdr h;
  h.gso_type = 1;
  h.gso_size = 1400;
  int n = 0;
  split(h, tcp4(1, 3000), 1420, &n);
  CHECK(n == -1);
  vnet_hdr plain;
  split(plain, tcp4(1, 1400), 1420, &n);  // 1452 bytes, no GSO
  CHECK(n == -1);
}

TEST_CASE("a partial checksum on a plain packet is completed") {
  bytes p = tcp4(5, 100);
  // Kernel style: the field holds the folded pseudo-header sum.
  uint32_t ps = csum_add(0, &p[12], 8) + 6 + uint32_t(p.size() - 20);
  put16(&p[36], uint16_t(~csum_fold(ps)));
  vnet_hdr h;
  h.flags = 1;
  h.csum_start = 20;
  h.csum_offset = 16;
  int n = 0;
  auto out = split(h, p, 1420, &n);
  REQUIRE(n == 1);
  CHECK(tcp_checksum_ok(out[0].data(), out[0].size()));
}

TEST_CASE("a UDP checksum that finishes as 0 is sent as 0xFFFF, a TCP one stays 0") {
  for (uint8_t proto : {uint8_t(17), uint8_t(6)}) {
    CAPTURE(int(proto));
    const size_t l4 = 20, off = proto == 17 ? 6 : 16;
    bytes p(20 + 40);
    p[0] = 0x45;
    put16(&p[2], uint16_t(p.size()));
    p[8] = 64;
    p[9] = proto;
    p[12] = 10, p[15] = 1, p[16] = 10, p[19] = 2;
    put16(&p[l4], 5353), put16(&p[l4 + 2], 53);
    if (proto == 17) put16(&p[l4 + 4], uint16_t(p.size() - l4));
    else p[l4 + 12] = 5 << 4;
    for (size_t i = l4 + 20; i < p.size(); ++i) p[i] = uint8_t(i * 7);
    vnet_hdr h;
    h.flags = 1;
    h.csum_start = uint16_t(l4);
    h.csum_offset = uint16_t(off);
    // Choose the last payload word so the finished sum is exactly 0: with
    // the word at 0 the checksum is c, and adding c makes the sum 0xFFFF.
    put16(&p[p.size() - 2], 0);
    put16(&p[l4 + off], 0);
    bytes probe = p;
    int n = 0;
    auto first = split(h, probe, 1420, &n);
    REQUIRE(n == 1);
    const uint16_t c = uint16_t(first[0][l4 + off] << 8 | first[0][l4 + off + 1]);
    put16(&p[p.size() - 2], c);
    auto out = split(h, p, 1420, &n);
    REQUIRE(n == 1);
    const uint16_t got = uint16_t(out[0][l4 + off] << 8 | out[0][l4 + off + 1]);
    CHECK(got == (proto == 17 ? 0xffff : 0));
    // Either way the receiver's sum over the segment verifies.
    CHECK(csum_fold(csum_add(0, &out[0][l4], out[0].size() - l4)) == 0);
  }
}

TEST_CASE("in-order segments of one flow coalesce into one GSO packet that splits back identically") {
  vnet_hdr cut;
  cut.gso_type = 1;
  cut.gso_size = 1368;
  auto segs = split(cut, tcp4(7000, 5000), 1420);
  REQUIRE(segs.size() == 4);
  std::vector<uint8_t> buf(70000);
  tcp_coalescer co(buf);
  for (const auto& s : segs) CHECK(co.add(s));
  auto merged = co.flush();
  CHECK(co.empty());
  vnet_hdr h = vnet_hdr::read(merged.data());
  CHECK(h.gso_type == 1);
  CHECK(h.gso_size == 1368);
  CHECK(h.flags == 1);
  CHECK(h.hdr_len == 52);
  bytes ip(merged.begin() + vnet_hdr_size, merged.end());
  CHECK(ip.size() == 52 + 5000);
  CHECK(ipv4_checksum_ok(ip.data()));
  auto again = split(h, ip, 1420);
  REQUIRE(again.size() == segs.size());
  for (size_t i = 0; i < segs.size(); ++i) {
    CAPTURE(i);
    // Identical except the IPv4 id (the super-packet keeps the first one).
    bytes a = segs[i], b = again[i];
    a[4] = b[4] = a[5] = b[5] = a[10] = b[10] = a[11] = b[11] = 0;
    CHECK(a == b);
  }
}

TEST_CASE("packets that must not merge are kept apart") {
  struct row {
    const char* what;
    bytes second;
  };
  bytes first = tcp4(100, 1000, 0x10);
  bytes other_port = tcp4(1100, 1000, 0x10);
  put16(&other_port[20], 1001);
  bytes other_ack = tcp4(1100, 1000, 0x10);
  other_ack[31] = 10;
  bytes longer = tcp4(1100, 1001, 0x10);
  const row rows[] = {
      {"a gap in the sequence", tcp4(1200, 1000, 0x10)},
      {"a retransmission", tcp4(100, 1000, 0x10)},
      {"a FIN", tcp4(1100, 1000, 0x11)},
      {"another flow", other_port},
      {"another ack number", other_ack},
      {"a longer segment than the first", longer},
      {"a pure ACK without payload", tcp4(1100, 0, 0x10)},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    std::vector<uint8_t> buf(70000);
    tcp_coalescer co(buf);
    REQUIRE(co.add(first));
    CHECK_FALSE(co.add(r.second));
    auto one = co.flush();
    CHECK(vnet_hdr::read(one.data()).gso_type == 0);
    CHECK(one.size() == vnet_hdr_size + first.size());
  }
  // PSH closes a train: nothing merges after it.
  std::vector<uint8_t> buf(70000);
  tcp_coalescer co(buf);
  REQUIRE(co.add(tcp4(100, 1000, 0x18)));
  CHECK_FALSE(co.add(tcp4(1100, 1000, 0x10)));
}
