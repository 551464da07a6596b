#include "net/dns/message.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::net::dns;

namespace {
name N(const char* s) { return name::parse(s).value(); }
ip_address IP(const char* s) { return ip_address::parse(s).value(); }

message sample_reply() {
  message m;
  m.hdr.id = 0xBEEF;
  m.hdr.qr = m.hdr.aa = m.hdr.rd = m.hdr.ra = true;
  m.questions.push_back({N("Web.Overlay"), rr_type::a, rr_class::in});
  m.answers.push_back({N("web.overlay"), rr_type::a, rr_class::in, 30, IP("10.1.2.3")});
  m.answers.push_back({N("web.overlay"), rr_type::aaaa, rr_class::in, 30, IP("fd00::1")});
  m.answers.push_back({N("3.2.1.10.in-addr.arpa"), rr_type::ptr, rr_class::in, 30, N("web.overlay")});
  soa_data soa{N("ns.overlay"), N("hostmaster.overlay"), 7, 3600, 600, 86400, 30};
  m.authority.push_back({N("overlay"), rr_type::soa, rr_class::in, 30, soa});
  m.additional.push_back({N("x.overlay"), 99, rr_class::in, 5, raw_rdata{1, 2, 3}});
  m.opt = edns{1232, 0, 0, true, {0, 10, 0, 2, 0xAB, 0xCD}};
  return m;
}
}  // namespace

TEST_CASE("a message survives serialize then parse unchanged") {
  message m = sample_reply();
  auto wire = serialize(m);
  auto back = parse(wire);
  REQUIRE(back.ok());
  CHECK(back->hdr.id == 0xBEEF);
  CHECK((back->hdr.qr && back->hdr.aa && back->hdr.rd && back->hdr.ra && !back->hdr.tc));
  REQUIRE(back->questions.size() == 1);
  CHECK(back->questions[0].qname.to_string() == "Web.Overlay.");  // case preserved
  REQUIRE(back->answers.size() == 3);
  CHECK(std::get<ip_address>(back->answers[0].data) == IP("10.1.2.3"));
  CHECK(std::get<ip_address>(back->answers[1].data) == IP("fd00::1"));
  CHECK(std::get<name>(back->answers[2].data).equals(N("web.overlay")));
  REQUIRE(back->authority.size() == 1);
  auto soa = std::get<soa_data>(back->authority[0].data);
  CHECK(soa.rname.equals(N("hostmaster.overlay")));  // compressed against "Overlay"
  CHECK(soa.serial == 7);
  CHECK(soa.minimum == 30);
  REQUIRE(back->additional.size() == 1);
  CHECK(std::get<raw_rdata>(back->additional[0].data) == raw_rdata{1, 2, 3});
  REQUIRE(back->opt.has_value());
  CHECK(back->opt->udp_payload == 1232);
  CHECK(back->opt->dnssec_ok);
  CHECK(back->opt->options.size() == 6);
  CHECK(serialize(*back) == wire);  // and a second round trip is the identity
}

TEST_CASE("repeated names are compressed to pointers") {
  message m;
  for (int i = 0; i < 10; ++i)
    m.answers.push_back({N("a-long-service-name.overlay"), rr_type::a, rr_class::in, 30, IP("10.0.0.1")});
  auto wire = serialize(m);
  // One full name (29 octets), then nine 2-octet pointers; 14 octets per RR besides.
  CHECK(wire.size() == header_size + 29 + 9 * 2 + 10 * 14);
  auto back = parse(wire);
  REQUIRE(back.ok());
  for (const auto& rr : back->answers) CHECK(rr.owner.key() == "a-long-service-name.overlay");
}

TEST_CASE("compression matches suffixes case-insensitively") {
  message m;
  m.questions.push_back({N("WEB.OVERLAY"), rr_type::a, rr_class::in});
  m.answers.push_back({N("db.overlay"), rr_type::a, rr_class::in, 30, IP("10.0.0.1")});
  auto wire = serialize(m);
  // "db" label (3) + pointer (2) instead of the whole name.
  CHECK(wire.size() == header_size + 13 + 4 + 5 + 10 + 4);
  CHECK(parse(wire).ok());
}

TEST_CASE("an oversized reply is cut to header and question with TC set") {
  message m = sample_reply();
  for (int i = 0; i < 60; ++i)
    m.answers.push_back({N("web.overlay"), rr_type::a, rr_class::in, 30, IP("10.1.2.3")});
  auto wire = serialize(m, 512);
  CHECK(wire.size() <= 512);
  auto back = parse(wire);
  REQUIRE(back.ok());
  CHECK(back->hdr.tc);
  CHECK(back->answers.empty());
  CHECK(back->questions.size() == 1);
  CHECK(back->opt.has_value());  // OPT stays (RFC 6891 §7)
}

TEST_CASE("names parse from text with limits") {
  struct row {
    const char* text;
    bool ok;
    const char* key;
  };
  std::string l63(63, 'a'), l64(64, 'a');
  std::string long_name;
  for (int i = 0; i < 4; ++i) long_name += l63 + ".";  // 4*64 + 1 > 255
  const row rows[] = {
      {"web", true, "web"},     {"Web.Overlay.", true, "web.overlay"}, {".", true, ""},
      {"", true, ""},           {"a..b", false, ""},                   {"..", false, ""},
      {l63.c_str(), true, l63.c_str()}, {l64.c_str(), false, ""},      {long_name.c_str(), false, ""},
  };
  for (const auto& r : rows) {
    CAPTURE(r.text);
    auto n = name::parse(r.text);
    CHECK(n.ok() == r.ok);
    if (n && r.ok) CHECK(n->key() == r.key);
  }
}

TEST_CASE("presentation form escapes dots and unprintable octets in labels") {
  name n(std::vector<std::string>{std::string("a.b"), std::string("c\x01", 2)});
  CHECK(n.to_string() == "a\\.b.c\\001.");
}

TEST_CASE("malformed messages are rejected without reading out of bounds") {
  using bytes = std::vector<uint8_t>;
  const bytes hdr1q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  auto with = [&](const bytes& tail, const bytes& h = {}) {
    bytes b;
    for (uint8_t x : h.empty() ? hdr1q : h) b.push_back(x);
    for (uint8_t x : tail) b.push_back(x);
    return b;
  };
  const bytes hdr1an = {0x12, 0x34, 0x81, 0x00, 0, 0, 0, 1, 0, 0, 0, 0};
  const bytes hdr2ar = {0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 2};
  struct row {
    const char* what;
    bytes wire;
  };
  const row rows[] = {
      {"empty", {}},
      {"short header", {0x12, 0x34, 0x01}},
      {"question missing", hdr1q},
      {"label past the end", with({5, 'a', 'b'})},
      {"no terminating zero", with({3, 'w', 'e', 'b'})},
      {"question type truncated", with({3, 'w', 'e', 'b', 0, 0})},
      {"pointer to itself", with({0xC0, 12, 0, 1, 0, 1})},
      {"pointer forwards", with({0xC0, 20, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0})},
      {"pointer truncated", with({0xC0})},
      {"pointer loop via two labels", with({1, 'a', 0xC0, 12, 0, 1, 0, 1})},
      {"extended label type", with({0x40, 0, 0, 1, 0, 1})},
      {"trailing garbage", with({0, 0, 1, 0, 1, 0xFF})},
      {"A with rdlength 5", with({0, 0, 1, 0, 1, 0, 0, 0, 30, 0, 5, 1, 2, 3, 4, 5}, hdr1an)},
      {"rdata past the end", with({0, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2}, hdr1an)},
      {"PTR name longer than rdlength", with({0, 0, 12, 0, 1, 0, 0, 0, 30, 0, 1, 1, 'a', 0}, hdr1an)},
      {"SOA truncated", with({0, 0, 6, 0, 1, 0, 0, 0, 30, 0, 4, 0, 0, 0, 0}, hdr1an)},
      {"two OPT records", with({0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0}, hdr2ar)},
      {"OPT with a non-root owner", with({1, 'a', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0}, hdr2ar)},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    CHECK_FALSE(parse(r.wire).ok());
    CHECK(parse_header(r.wire).has_value() == (r.wire.size() >= header_size));
  }
}

TEST_CASE("a name of more than 255 octets built from pointers is rejected") {
  // Answer 1 carries five pointer-linked 63-octet label segments as opaque
  // rdata; answer 2's owner points at the last one, so it chains through all
  // five: 5 * 64 + 1 octets.
  std::vector<uint8_t> w = {0, 0, 0x80, 0, 0, 0, 0, 2, 0, 0, 0, 0};
  w.insert(w.end(), {0, 0, 99, 0, 1, 0, 0, 0, 0, 0, 0});  // rdlength patched below
  size_t rdata_at = w.size(), prev = 0;
  for (int i = 0; i < 5; ++i) {
    size_t here = w.size();
    w.push_back(63);
    w.insert(w.end(), 63, 'x');
    if (prev) {
      w.push_back(static_cast<uint8_t>(0xC0 | (prev >> 8)));
      w.push_back(static_cast<uint8_t>(prev));
    } else {
      w.push_back(0);
    }
    prev = here;
  }
  size_t rdlen = w.size() - rdata_at;
  w[rdata_at - 2] = static_cast<uint8_t>(rdlen >> 8);
  w[rdata_at - 1] = static_cast<uint8_t>(rdlen);
  std::vector<uint8_t> ok = w;
  ok[7] = 1;  // with only answer 1 the message is fine
  CHECK(parse(ok).ok());
  w.push_back(static_cast<uint8_t>(0xC0 | (prev >> 8)));
  w.push_back(static_cast<uint8_t>(prev));
  w.insert(w.end(), {0, 99, 0, 1, 0, 0, 0, 0, 0, 0});
  auto r = parse(w);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message.find("255") != std::string::npos);
}

TEST_CASE("full rcode splits into header and OPT") {
  message m;
  m.opt = edns{};
  m.set_rcode(rcode::badvers);
  CHECK(m.hdr.rcode == 0);
  CHECK(m.opt->extended_rcode == 1);
  CHECK(m.full_rcode() == rcode::badvers);
  auto back = parse(serialize(m));
  REQUIRE(back.ok());
  CHECK(back->full_rcode() == rcode::badvers);
}
