#include "net/dns/resolver.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::net::dns;

namespace {
name N(const char* s) { return name::parse(s).value(); }
ip_address IP(const char* s) { return ip_address::parse(s).value(); }

std::vector<uint8_t> query(const char* qname, uint16_t qtype, uint16_t id = 0x4242,
                           std::optional<uint16_t> edns_size = std::nullopt) {
  message m;
  m.hdr.id = id;
  m.hdr.rd = true;
  m.questions.push_back({N(qname), qtype, rr_class::in});
  if (edns_size) m.opt = edns{*edns_size, 0, 0, false, {}};
  return serialize(m);
}

struct fixture {
  std::shared_ptr<record_store> store = std::make_shared<record_store>();
  resolver_config cfg;
  fixture() {
    cfg.domain = N("overlay");
    cfg.ttl = std::chrono::seconds(30);
    cfg.recursion_available = true;
    REQUIRE(store->set("web", IP("10.0.0.5")).ok());
    REQUIRE(store->add("web", IP("fd00::5")).ok());
    REQUIRE(store->set("db.overlay.", IP("10.0.0.6")).ok());
    REQUIRE(store->set("api.svc.example.", IP("10.0.0.7")).ok());
    REQUIRE(store->set("v6only", IP("fd00::8")).ok());
    REQUIRE(store->set("c.b", IP("10.0.0.9")).ok());
  }
  decision ask(const std::vector<uint8_t>& q, transport via = transport::udp) {
    return resolve(q, *store->snapshot(), cfg, via);
  }
  message answer(const std::vector<uint8_t>& q, transport via = transport::udp) {
    auto d = ask(q, via);
    REQUIRE(d.act == decision::action::reply);
    auto m = parse(d.reply);
    REQUIRE(m.ok());
    return *m;
  }
};

std::vector<std::string> texts(const std::vector<resource_record>& rrs) {
  std::vector<std::string> out;
  for (const auto& rr : rrs) {
    if (auto ip = std::get_if<ip_address>(&rr.data)) out.push_back(ip->to_string());
    else if (auto n = std::get_if<name>(&rr.data)) out.push_back(n->to_string());
    else if (std::holds_alternative<soa_data>(rr.data)) out.push_back("SOA " + rr.owner.to_string());
  }
  return out;
}
}  // namespace

TEST_CASE("resolver answers the record table as the issue specifies") {
  fixture f;
  struct row {
    const char* qname;
    uint16_t qtype;
    rcode rc;
    std::vector<std::string> answers;
    std::vector<std::string> authority;
  };
  const std::vector<std::string> none;
  const std::vector<std::string> soa = {"SOA overlay."};
  const row rows[] = {
      {"web.overlay", rr_type::a, rcode::noerror, {"10.0.0.5"}, none},         // under the domain
      {"web", rr_type::a, rcode::noerror, {"10.0.0.5"}, none},                 // as registered
      {"WeB.OvErLaY.", rr_type::a, rcode::noerror, {"10.0.0.5"}, none},        // any case
      {"web.overlay", rr_type::aaaa, rcode::noerror, {"fd00::5"}, none},
      {"web.overlay", rr_type::any, rcode::noerror, {"10.0.0.5", "fd00::5"}, none},
      {"db.overlay", rr_type::a, rcode::noerror, {"10.0.0.6"}, none},          // registered absolute
      {"db.overlay.overlay", rr_type::a, rcode::noerror, {"10.0.0.6"}, none},  // harmless alias
      {"api.svc.example", rr_type::a, rcode::noerror, {"10.0.0.7"}, none},     // outside the domain
      {"api.svc.example.overlay", rr_type::a, rcode::noerror, {"10.0.0.7"}, none},
      {"v6only.overlay", rr_type::a, rcode::noerror, {}, soa},                 // NODATA
      {"web.overlay", uint16_t{15}, rcode::noerror, {}, soa},
      {"nope.overlay", rr_type::a, rcode::nxdomain, {}, soa},                  // NXDOMAIN + SOA
      {"a.b.nope.overlay", rr_type::aaaa, rcode::nxdomain, {}, soa},
      {"overlay", rr_type::a, rcode::noerror, {}, soa},                        // the apex: NODATA
      {"b.overlay", rr_type::a, rcode::noerror, {}, soa},                      // above a.b: NODATA
      {"c.b.overlay", rr_type::a, rcode::noerror, {"10.0.0.9"}, none},
      {"x.b.overlay", rr_type::a, rcode::nxdomain, {}, soa},
      {"overlay", rr_type::soa, rcode::noerror, {"SOA overlay."}, none},
      {"5.0.0.10.in-addr.arpa", rr_type::ptr, rcode::noerror, {"web.overlay."}, none},
      {"6.0.0.10.in-addr.arpa", rr_type::ptr, rcode::noerror, {"db.overlay."}, none},
      {"7.0.0.10.in-addr.arpa", rr_type::ptr, rcode::noerror, {"api.svc.example.overlay."}, none},
      {"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", rr_type::ptr,
       rcode::noerror, {"web.overlay."}, none},
  };
  for (const auto& r : rows) {
    CAPTURE(r.qname);
    CAPTURE(r.qtype);
    auto m = f.answer(query(r.qname, r.qtype));
    CHECK(m.full_rcode() == r.rc);
    CHECK(m.hdr.aa);
    CHECK(texts(m.answers) == r.answers);
    CHECK(texts(m.authority) == r.authority);
    for (const auto& rr : m.answers)
      if (rr.type != rr_type::soa) CHECK(rr.ttl == 30);
  }
}

TEST_CASE("replies echo id, question case and RD, and set QR and RA") {
  fixture f;
  auto m = f.answer(query("WEB.overlay", rr_type::a, 0xABCD));
  CHECK(m.hdr.id == 0xABCD);
  CHECK(m.hdr.qr);
  CHECK(m.hdr.rd);
  CHECK(m.hdr.ra);
  REQUIRE(m.questions.size() == 1);
  CHECK(m.questions[0].qname.to_string() == "WEB.overlay.");
  CHECK(m.answers.at(0).owner.to_string() == "WEB.overlay.");
  CHECK_FALSE(m.opt.has_value());  // no EDNS asked, none given
}

TEST_CASE("names the zone does not hold are forwarded") {
  fixture f;
  for (const char* q : {"example.com", "ext.test", "9.9.9.10.in-addr.arpa", "web.overlay2"}) {
    CAPTURE(q);
    auto d = f.ask(query(q, rr_type::a));
    CHECK(d.act == decision::action::forward);
    CHECK(d.max_reply == 512);
    CHECK(d.query.questions.at(0).qname.key() == name::parse(q)->key());
  }
}

TEST_CASE("registration changes are visible to the next query") {
  fixture f;
  CHECK(f.answer(query("web.overlay", rr_type::a)).answers.size() == 1);
  f.store->remove("web");
  CHECK(f.answer(query("web.overlay", rr_type::a)).full_rcode() == rcode::nxdomain);
  REQUIRE(f.store->set("web", IP("10.0.0.9")).ok());
  CHECK(texts(f.answer(query("web.overlay", rr_type::a)).answers) == std::vector<std::string>{"10.0.0.9"});
}

TEST_CASE("the domain in the config decides what is in the zone") {
  fixture f;
  f.cfg.domain = N("cluster.local");
  CHECK(texts(f.answer(query("web.cluster.local", rr_type::a)).answers) == std::vector<std::string>{"10.0.0.5"});
  CHECK(f.ask(query("web.overlay", rr_type::a)).act == decision::action::forward);
}

TEST_CASE("malformed and unusual queries get the rcode RFC 1035 and 6891 ask for") {
  fixture f;
  SUBCASE("too short for a header: dropped") {
    std::vector<uint8_t> q = {1, 2, 3};
    CHECK(f.ask(q).act == decision::action::drop);
  }
  SUBCASE("a response: dropped") {
    auto q = query("web.overlay", rr_type::a);
    q[2] |= 0x80;
    CHECK(f.ask(q).act == decision::action::drop);
  }
  SUBCASE("a broken body: FORMERR with the id") {
    auto q = query("web.overlay", rr_type::a, 0x7777);
    q.resize(q.size() - 3);
    auto m = f.answer(q);
    CHECK(m.hdr.id == 0x7777);
    CHECK(m.full_rcode() == rcode::formerr);
    CHECK(m.questions.empty());
  }
  SUBCASE("two questions: FORMERR") {
    message m;
    m.questions.push_back({N("web"), rr_type::a, rr_class::in});
    m.questions.push_back({N("db"), rr_type::a, rr_class::in});
    CHECK(f.answer(serialize(m)).full_rcode() == rcode::formerr);
  }
  SUBCASE("opcode other than QUERY: NOTIMP") {
    auto q = query("web.overlay", rr_type::a);
    q[2] |= (2 << 3);  // STATUS
    CHECK(f.answer(q).full_rcode() == rcode::notimp);
  }
  SUBCASE("EDNS version 1: BADVERS") {
    message m;
    m.questions.push_back({N("web.overlay"), rr_type::a, rr_class::in});
    m.opt = edns{1232, 0, 1, false, {}};
    auto r = f.answer(serialize(m));
    CHECK(r.full_rcode() == rcode::badvers);
    CHECK(r.opt.has_value());
  }
  SUBCASE("AXFR of the zone: REFUSED") {
    CHECK(f.answer(query("overlay", rr_type::axfr), transport::tcp).full_rcode() == rcode::refused);
  }
  SUBCASE("OPT as a question type: FORMERR") {
    CHECK(f.answer(query("web.overlay", rr_type::opt)).full_rcode() == rcode::formerr);
  }
  SUBCASE("class CHAOS inside the zone: REFUSED") {
    message m;
    m.questions.push_back({N("web.overlay"), rr_type::a, 3});
    CHECK(f.answer(serialize(m)).full_rcode() == rcode::refused);
  }
}

TEST_CASE("UDP answers fit the client's size and set TC otherwise") {
  fixture f;
  for (int i = 0; i < 40; ++i)
    REQUIRE(f.store->add("big", ip_address::v4(0x0A010000u + static_cast<uint32_t>(i))).ok());
  SUBCASE("no EDNS: 512 octets, truncated") {
    auto d = f.ask(query("big.overlay", rr_type::a));
    REQUIRE(d.act == decision::action::reply);
    CHECK(d.reply.size() <= 512);
    auto m = parse(d.reply);
    CHECK(m->hdr.tc);
    CHECK(m->answers.empty());
  }
  SUBCASE("EDNS 1232: all 40 fit") {
    auto m = f.answer(query("big.overlay", rr_type::a, 1, uint16_t{1232}));
    CHECK_FALSE(m.hdr.tc);
    CHECK(m.answers.size() == 40);
    REQUIRE(m.opt.has_value());
    CHECK(m.opt->udp_payload == limits::udp_payload_advertised);
  }
  SUBCASE("EDNS below 512 counts as 512") {
    auto m = f.answer(query("big.overlay", rr_type::a, 1, uint16_t{100}));
    CHECK(m.hdr.tc);
  }
  SUBCASE("TCP: everything") {
    auto m = f.answer(query("big.overlay", rr_type::a), transport::tcp);
    CHECK_FALSE(m.hdr.tc);
    CHECK(m.answers.size() == 40);
  }
}

TEST_CASE("reverse names parse to addresses and reject junk") {
  struct row {
    const char* text;
    const char* ip;  // nullptr: not a reverse name we read
  };
  const row rows[] = {
      {"4.3.2.1.in-addr.arpa", "1.2.3.4"},
      {"4.3.2.1.IN-ADDR.ARPA.", "1.2.3.4"},
      {"3.2.1.in-addr.arpa", nullptr},
      {"256.3.2.1.in-addr.arpa", nullptr},
      {"04.3.2.1.in-addr.arpa", nullptr},
      {"x.3.2.1.in-addr.arpa", nullptr},
      {"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.D.F.ip6.arpa", "fd00::1"},
      {"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", nullptr},
      {"example.com", nullptr},
  };
  for (const auto& r : rows) {
    CAPTURE(r.text);
    auto ip = parse_reverse_name(N(r.text));
    CHECK(ip.has_value() == (r.ip != nullptr));
    if (ip && r.ip) CHECK(*ip == IP(r.ip));
  }
}

TEST_CASE("relayed upstream replies get the client's id and are cut to its size") {
  message q;
  q.hdr.id = 0x1111;
  q.questions.push_back({N("ext.test"), rr_type::a, rr_class::in});
  message up = q;
  up.hdr.id = 0x9999;
  up.hdr.qr = true;
  for (int i = 0; i < 40; ++i) up.answers.push_back({N("ext.test"), rr_type::a, rr_class::in, 60, IP("192.0.2.7")});
  auto wire = serialize(up);
  auto full = relay_reply(wire, q, 65535);
  REQUIRE_FALSE(full.empty());
  CHECK(parse(full)->hdr.id == 0x1111);
  CHECK(parse(full)->answers.size() == 40);
  auto cut = relay_reply(wire, q, 512);
  REQUIRE_FALSE(cut.empty());
  CHECK(parse(cut)->hdr.tc);
  CHECK(parse(cut)->hdr.id == 0x1111);
  message other = up;
  other.questions[0].qname = N("evil.test");
  CHECK(relay_reply(serialize(other), q, 512).empty());  // not the question asked
}

TEST_CASE("header counts are checked before parsing: multi-question and pointer-bomb queries get a fast FORMERR") {
  fixture f;
  auto formerr_fast = [&](const std::vector<uint8_t>& q) {
    decision d = f.ask(q);
    REQUIRE(d.act == decision::action::reply);
    auto m = parse(d.reply);
    REQUIRE(m.ok());
    CHECK(m->full_rcode() == rcode::formerr);
    CHECK(m->hdr.id == 0x5151);
    CHECK(m->questions.empty());  // nothing past the header was read
  };
  // ~4 KiB: 640 questions "\xC0\x0C" (each a pointer to the first name).
  std::vector<uint8_t> multi = {0x51, 0x51, 0x01, 0x00, 0x02, 0x80, 0, 0, 0, 0, 0, 0};
  for (const char* l : {"\x03" "web", "\x07" "overlay"}) multi.insert(multi.end(), l, l + std::strlen(l));
  multi.push_back(0);
  multi.insert(multi.end(), {0, 1, 0, 1});
  for (int i = 1; i < 640; ++i) multi.insert(multi.end(), {0xC0, 0x0C, 0, 1, 0, 1});
  CHECK(multi.size() > 3800);
  formerr_fast(multi);
  // A pointer bomb: 1000 names each pointing at the one before, announced as
  // 200 additional records: refused on the counts alone.
  std::vector<uint8_t> bomb = {0x51, 0x51, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 200};
  bomb.push_back(0);  // offset 12: the root name
  for (int i = 0; i < 1000; ++i) {
    const size_t target = bomb.size() - (i == 0 ? 1 : 2);
    bomb.push_back(uint8_t(0xC0 | (target >> 8)));
    bomb.push_back(uint8_t(target));
  }
  formerr_fast(bomb);
}
