#include "net/dns/resolver.hpp"

#include <algorithm>
#include <charconv>

namespace overlayd::net::dns {

namespace {

bool ends_with_label_boundary(std::string_view key, std::string_view suffix) {
  if (suffix.empty()) return true;
  if (key.size() < suffix.size() + 1) return false;
  return key.ends_with(suffix) && key[key.size() - suffix.size() - 1] == '.';
}

// The reply skeleton: id, opcode, RD and the question echoed (RFC 1035
// §4.1.1), QR set; an OPT of our own when the client sent one (RFC 6891
// §6.1.1: a responder that understands EDNS answers with an OPT).
message reply_to(const message& q, const resolver_config& cfg) {
  message r;
  r.hdr.id = q.hdr.id;
  r.hdr.qr = true;
  r.hdr.opcode = q.hdr.opcode;
  r.hdr.rd = q.hdr.rd;
  r.hdr.cd = q.hdr.cd;
  r.hdr.ra = cfg.recursion_available;
  r.questions = q.questions;
  if (q.opt) {
    edns e;
    e.udp_payload = cfg.edns_payload;
    r.opt = e;
  }
  return r;
}

resource_record soa_record(const resolver_config& cfg, uint32_t serial) {
  soa_data s;
  // "ns.<domain>" and "hostmaster.<domain>" (a mailbox, RFC 1035 §3.3.13).
  // A domain too long to prefix falls back to the domain itself.
  auto under = [&](const char* label) {
    auto n = name(std::vector<std::string>{label}).concat(cfg.domain);
    return n ? std::move(*n) : cfg.domain;
  };
  s.mname = under("ns");
  s.rname = under("hostmaster");
  auto ttl = static_cast<uint32_t>(cfg.ttl.count());
  s.serial = serial;
  s.refresh = 3600;
  s.retry = 600;
  s.expire = 86400;
  s.minimum = ttl;  // RFC 2308 §4: the negative-caching TTL
  return resource_record{cfg.domain, rr_type::soa, rr_class::in, ttl, std::move(s)};
}

std::vector<uint8_t> finish(const message& r, const message& q, transport via) {
  return serialize(r, max_reply_size(q, via));
}

decision reply(std::vector<uint8_t> bytes) {
  decision d;
  d.act = decision::action::reply;
  d.reply = std::move(bytes);
  return d;
}

// The name a PTR points to: relative registrations live under the domain.
result<name> ptr_target(const std::string& key, const resolver_config& cfg) {
  std::string dkey = cfg.domain.key();
  auto n = name::parse(key);
  if (!n) return n;
  if (key == dkey || ends_with_label_boundary(key, dkey)) return n;
  return n->concat(cfg.domain);
}

// Answers for a registered name: addresses of the asked family, or NODATA.
void answer_addresses(message& r, const question& q, const record_entry& e, bool in_domain,
                      const resolver_config& cfg, uint32_t serial) {
  auto ttl = static_cast<uint32_t>(cfg.ttl.count());
  for (const auto& ip : e.addresses) {
    uint16_t type = ip.is_v4() ? rr_type::a : rr_type::aaaa;
    if (q.qtype == type || q.qtype == rr_type::any)
      r.answers.push_back(resource_record{q.qname, type, rr_class::in, ttl, ip});
  }
  // RFC 2308 §2.2: NODATA is NOERROR with an empty answer and the zone SOA.
  if (r.answers.empty() && in_domain) r.authority.push_back(soa_record(cfg, serial));
}

// `cfg` itself, or a copy whose domain is the alias `key` falls under.
const resolver_config& zone_of(const resolver_config& cfg, const std::string& key, resolver_config& other) {
  for (const auto& a : cfg.aliases) {
    const std::string akey = a.key();
    if (key == akey || ends_with_label_boundary(key, akey)) {
      other = cfg;
      other.domain = a;
      return other;
    }
  }
  return cfg;
}

}  // namespace

size_t max_reply_size(const message& query, transport via) {
  if (via == transport::tcp) return limits::tcp_message_max;
  if (!query.opt) return limits::udp_payload_classic;
  size_t asked = std::max<size_t>(query.opt->udp_payload, limits::edns_min_payload);
  return std::min(asked, limits::udp_payload_max);
}

std::vector<uint8_t> error_reply(const message& query, rcode rc, const resolver_config& cfg) {
  message r = reply_to(query, cfg);
  r.set_rcode(rc);
  return serialize(r, max_reply_size(query, transport::udp));
}

std::optional<ip_address> parse_reverse_name(const name& n) {
  const auto& l = n.labels();
  auto lower_eq = [](const std::string& a, std::string_view b) {
    return name(std::vector<std::string>{a}).key() == b;
  };
  if (l.size() == 6 && lower_eq(l[4], "in-addr") && lower_eq(l[5], "arpa")) {
    std::array<uint8_t, 4> b{};
    for (size_t i = 0; i < 4; ++i) {
      const auto& s = l[3 - i];
      unsigned v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || p != s.data() + s.size() || v > 255 || s.size() > 3 ||
          (s.size() > 1 && s[0] == '0'))
        return std::nullopt;
      b[i] = static_cast<uint8_t>(v);
    }
    return ip_address::v4(b);
  }
  if (l.size() == 34 && lower_eq(l[32], "ip6") && lower_eq(l[33], "arpa")) {
    std::array<uint8_t, 16> b{};
    for (size_t i = 0; i < 32; ++i) {
      const auto& s = l[31 - i];  // first label is the lowest nibble
      if (s.size() != 1) return std::nullopt;
      char c = s[0];
      int v = (c >= '0' && c <= '9') ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (v < 0) return std::nullopt;
      b[i / 2] = static_cast<uint8_t>(b[i / 2] | (i % 2 ? v : v << 4));
    }
    return ip_address::v6(b);
  }
  return std::nullopt;
}

decision resolve(std::span<const uint8_t> wire, const record_table& records,
                 const resolver_config& cfg, transport via) {
  auto hdr = parse_header(wire);
  // Too short to answer, or a response (answering those invites loops).
  if (!hdr || hdr->qr) return {};
  // Counts first: a query that cannot be one costs 12 octets of reading.
  const bool counts_ok = hdr->qdcount == 1 && hdr->ancount == 0 &&
                         hdr->nscount + hdr->arcount <= limits::max_query_extra_records;
  auto parsed = counts_ok ? parse(wire) : result<message>(error(errc::protocol, "header counts"));
  if (!parsed) {
    message q;
    q.hdr = *hdr;
    message r = reply_to(q, cfg);
    r.set_rcode(rcode::formerr);
    return reply(serialize(r, limits::udp_payload_classic));
  }
  const message& q = *parsed;
  message r = reply_to(q, cfg);
  if (q.hdr.opcode != static_cast<uint8_t>(opcode::query)) {
    r.set_rcode(rcode::notimp);
    return reply(finish(r, q, via));
  }
  if (q.questions.size() != 1) {
    r.set_rcode(rcode::formerr);
    return reply(finish(r, q, via));
  }
  if (q.opt && q.opt->version != 0) {  // RFC 6891 §6.1.3
    r.set_rcode(rcode::badvers);
    return reply(finish(r, q, via));
  }

  const question& qn = q.questions.front();
  // Zone transfers and the obsolete mail meta-types are not offered here;
  // OPT is not a question type at all (RFC 6891 §6.1.1).
  if (qn.qtype == rr_type::opt) {
    r.set_rcode(rcode::formerr);
    return reply(finish(r, q, via));
  }
  const std::string key = qn.qname.key();
  // The zone this name falls under: the node-wide domain or another domain
  // in use (an attach's dns_domain); registered names answer under each.
  resolver_config other;
  const resolver_config& zone = zone_of(cfg, key, other);
  const std::string dkey = zone.domain.key();
  const bool in_domain = key == dkey || ends_with_label_boundary(key, dkey);
  if (qn.qclass != rr_class::in && qn.qclass != rr_class::any) {
    if (!in_domain) {
      decision d;
      d.act = decision::action::forward;
      d.query = q;
      d.max_reply = max_reply_size(q, via);
      return d;
    }
    r.set_rcode(rcode::refused);
    return reply(finish(r, q, via));
  }
  if (in_domain && qn.qtype >= rr_type::ixfr && qn.qtype <= rr_type::maila) {
    r.set_rcode(rcode::refused);
    return reply(finish(r, q, via));
  }

  // 1. A registered name, as registered or under the domain.
  const std::string relative = in_domain && key != dkey ? key.substr(0, key.size() - dkey.size() - 1) : key;
  const record_entry* e = records.find(key);
  if (!e && relative != key) e = records.find(relative);
  if (e) {
    r.hdr.aa = true;
    answer_addresses(r, qn, *e, in_domain, zone, records.serial());
    return reply(finish(r, q, via));
  }
  // 2. The zone itself, names above registered ones (empty non-terminals:
  //    NODATA) and unknown names inside it (NXDOMAIN).
  if (in_domain) {
    r.hdr.aa = true;
    if (key == dkey && (qn.qtype == rr_type::soa || qn.qtype == rr_type::any))
      r.answers.push_back(soa_record(zone, records.serial()));
    else
      r.authority.push_back(soa_record(zone, records.serial()));
    bool exists = key == dkey || records.has_descendants(key) || records.has_descendants(relative);
    if (!exists) r.set_rcode(rcode::nxdomain);
    return reply(finish(r, q, via));
  }
  // 3. Reverse names of addresses we hold; other reverse names go upstream.
  if (auto ip = parse_reverse_name(qn.qname)) {
    auto names = records.names_for(*ip);
    if (!names.empty()) {
      r.hdr.aa = true;
      if (qn.qtype == rr_type::ptr || qn.qtype == rr_type::any)
        for (const auto& k : names)
          if (auto target = ptr_target(k, zone))
            r.answers.push_back(resource_record{qn.qname, rr_type::ptr, rr_class::in,
                                                static_cast<uint32_t>(zone.ttl.count()),
                                                std::move(*target)});
      return reply(finish(r, q, via));
    }
  }
  decision d;
  d.act = decision::action::forward;
  d.query = q;
  d.max_reply = max_reply_size(q, via);
  return d;
}

std::vector<uint8_t> relay_reply(std::span<const uint8_t> wire, const message& query,
                                 size_t max_reply) {
  auto parsed = parse(wire);
  if (!parsed || !parsed->hdr.qr || parsed->questions.size() != 1 || query.questions.size() != 1)
    return {};
  const auto& a = parsed->questions.front();
  const auto& b = query.questions.front();
  if (a.qtype != b.qtype || a.qclass != b.qclass || !a.qname.equals(b.qname)) return {};
  if (wire.size() <= max_reply) {
    std::vector<uint8_t> out(wire.begin(), wire.end());
    out[0] = static_cast<uint8_t>(query.hdr.id >> 8);
    out[1] = static_cast<uint8_t>(query.hdr.id);
    return out;
  }
  message m = std::move(*parsed);
  m.hdr.id = query.hdr.id;
  return serialize(m, max_reply);
}

}  // namespace overlayd::net::dns
