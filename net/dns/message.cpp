#include "net/dns/message.hpp"

#include <cctype>
#include <cstring>

#include "net/dns/limits.hpp"

namespace overlayd::net::dns {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

error malformed(std::string what) { return error(errc::protocol, "malformed DNS message: " + what); }

// ---------------------------------------------------------------- reading

class reader {
 public:
  explicit reader(std::span<const uint8_t> w) : w_(w) {}
  size_t pos() const { return pos_; }
  size_t left() const { return w_.size() - pos_; }

  bool u8(uint8_t& v) {
    if (left() < 1) return false;
    v = w_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<uint16_t>((w_[pos_] << 8) | w_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) {
    if (left() < 4) return false;
    v = (uint32_t{w_[pos_]} << 24) | (uint32_t{w_[pos_ + 1]} << 16) |
        (uint32_t{w_[pos_ + 2]} << 8) | uint32_t{w_[pos_ + 3]};
    pos_ += 4;
    return true;
  }
  bool bytes(size_t n, raw_rdata& out) {
    if (left() < n) return false;
    out.assign(w_.begin() + static_cast<ptrdiff_t>(pos_),
               w_.begin() + static_cast<ptrdiff_t>(pos_ + n));
    pos_ += n;
    return true;
  }

  // RFC 1035 §4.1.4: a sequence of labels ending in a zero octet or in a
  // pointer to an earlier name. Each pointer must point strictly before the
  // segment it ends, so following pointers always moves backwards: no loops.
  result<name> read_name() {
    std::vector<std::string> labels;
    size_t p = pos_, segment_start = pos_, wire_len = 1, hops = 0;
    std::optional<size_t> resume;  // where the caller continues (after 1st pointer)
    for (;;) {
      if (p >= w_.size()) return malformed("name runs past the end");
      uint8_t len = w_[p];
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= w_.size()) return malformed("truncated compression pointer");
        size_t target = (size_t{len & 0x3Fu} << 8) | w_[p + 1];
        if (target >= segment_start) return malformed("compression pointer does not point backwards");
        if (++hops > limits::max_pointer_hops) return malformed("too many compression pointers");
        if (!resume) resume = p + 2;
        p = segment_start = target;
        continue;
      }
      if (len & 0xC0) return malformed("unsupported label type");
      if (len == 0) {
        if (!resume) resume = p + 1;
        break;
      }
      if (p + 1 + len > w_.size()) return malformed("label runs past the end");
      wire_len += 1 + len;
      if (wire_len > limits::max_name_wire) return malformed("name longer than 255 octets");
      labels.emplace_back(reinterpret_cast<const char*>(&w_[p + 1]), len);
      p += 1 + len;
    }
    pos_ = *resume;
    return name(std::move(labels));
  }

 private:
  std::span<const uint8_t> w_;
  size_t pos_ = 0;
};

result<question> read_question(reader& r) {
  auto n = r.read_name();
  if (!n) return std::move(n).err();
  question q;
  q.qname = std::move(*n);
  if (!r.u16(q.qtype) || !r.u16(q.qclass)) return malformed("truncated question");
  return q;
}

// Decodes rdata of the types we speak; it must fill rdlength exactly.
result<rdata> read_rdata(reader& r, uint16_t type, uint16_t klass, uint16_t rdlen) {
  size_t end = r.pos() + rdlen;
  if (r.left() < rdlen) return malformed("rdata runs past the end");
  auto exact = [&](rdata d) -> result<rdata> {
    if (r.pos() != end) return malformed("rdata length does not match its content");
    return d;
  };
  if (klass == rr_class::in && (type == rr_type::a || type == rr_type::aaaa)) {
    size_t want = type == rr_type::a ? 4 : 16;
    if (rdlen != want) return malformed("address record of wrong length");
    raw_rdata b;
    r.bytes(want, b);
    if (want == 4) return rdata(ip_address::v4({b[0], b[1], b[2], b[3]}));
    std::array<uint8_t, 16> a{};
    std::memcpy(a.data(), b.data(), 16);
    return rdata(ip_address::v6(a));
  }
  if (type == rr_type::ptr || type == rr_type::cname || type == rr_type::ns) {
    auto n = r.read_name();
    if (!n) return std::move(n).err();
    if (r.pos() > end) return malformed("rdata name runs past its length");
    return exact(std::move(*n));
  }
  if (type == rr_type::soa) {
    soa_data s;
    auto m = r.read_name();
    if (!m) return std::move(m).err();
    auto rn = r.read_name();
    if (!rn) return std::move(rn).err();
    s.mname = std::move(*m);
    s.rname = std::move(*rn);
    if (r.pos() + 20 > end || !r.u32(s.serial) || !r.u32(s.refresh) || !r.u32(s.retry) ||
        !r.u32(s.expire) || !r.u32(s.minimum))
      return malformed("truncated SOA");
    return exact(std::move(s));
  }
  raw_rdata raw;
  r.bytes(rdlen, raw);
  return rdata(std::move(raw));
}

// One resource record; an OPT goes to `msg.opt` (only one, only in the
// additional section, owner the root: RFC 6891 §6.1.1).
status read_record(reader& r, message& msg, std::vector<resource_record>& section) {
  resource_record rr;
  auto n = r.read_name();
  if (!n) return std::move(n).err();
  rr.owner = std::move(*n);
  uint16_t rdlen = 0;
  if (!r.u16(rr.type) || !r.u16(rr.klass) || !r.u32(rr.ttl) || !r.u16(rdlen))
    return malformed("truncated record header");
  if (rr.type == rr_type::opt) {
    if (&section != &msg.additional) return malformed("OPT outside the additional section");
    if (msg.opt) return malformed("more than one OPT record");
    if (!rr.owner.is_root()) return malformed("OPT owner is not the root");
    edns e;
    e.udp_payload = rr.klass;
    e.extended_rcode = static_cast<uint8_t>(rr.ttl >> 24);
    e.version = static_cast<uint8_t>(rr.ttl >> 16);
    e.dnssec_ok = (rr.ttl & 0x8000u) != 0;
    if (!r.bytes(rdlen, e.options)) return malformed("OPT rdata runs past the end");
    msg.opt = std::move(e);
    return {};
  }
  auto d = read_rdata(r, rr.type, rr.klass, rdlen);
  if (!d) return std::move(d).err();
  rr.data = std::move(*d);
  section.push_back(std::move(rr));
  return {};
}

// ---------------------------------------------------------------- writing

class writer {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) {
    buf_.push_back(static_cast<uint8_t>(v >> 8));
    buf_.push_back(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void bytes(const uint8_t* p, size_t n) { buf_.insert(buf_.end(), p, p + n); }
  size_t size() const { return buf_.size(); }
  void patch_u16(size_t at, uint16_t v) {
    buf_[at] = static_cast<uint8_t>(v >> 8);
    buf_[at + 1] = static_cast<uint8_t>(v);
  }

  // RFC 1035 §4.1.4: each suffix already written is replaced by a pointer to
  // its first occurrence; pointers reach only the first 16 KiB.
  void write_name(const name& n) {
    const auto& labels = n.labels();
    for (size_t i = 0; i < labels.size(); ++i) {
      std::string key = suffix_key(labels, i);
      for (const auto& [k, off] : offsets_)
        if (k == key) {
          u16(static_cast<uint16_t>(0xC000u | off));
          return;
        }
      if (buf_.size() < 0x4000 && offsets_.size() < 256) offsets_.emplace_back(std::move(key), static_cast<uint16_t>(buf_.size()));
      u8(static_cast<uint8_t>(labels[i].size()));
      bytes(reinterpret_cast<const uint8_t*>(labels[i].data()), labels[i].size());
    }
    u8(0);
  }

  std::vector<uint8_t> take() { return std::move(buf_); }

 private:
  static std::string suffix_key(const std::vector<std::string>& labels, size_t from) {
    std::string k;
    for (size_t i = from; i < labels.size(); ++i) {
      // Length-prefixed so a label holding '.' cannot alias two labels.
      k.push_back(static_cast<char>(labels[i].size()));
      for (char c : labels[i]) k.push_back(lower(c));
    }
    return k;
  }

  std::vector<uint8_t> buf_;
  // Suffixes written so far and where. A reply holds a handful of distinct
  // names, so a linear scan beats hashing; capped so a hostile message with
  // thousands of names cannot make writing quadratic.
  std::vector<std::pair<std::string, uint16_t>> offsets_;
};

void write_header(writer& w, const header& h, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  w.u16(h.id);
  uint16_t flags = static_cast<uint16_t>((h.qr ? 0x8000 : 0) | ((h.opcode & 0xF) << 11) |
                                         (h.aa ? 0x0400 : 0) | (h.tc ? 0x0200 : 0) |
                                         (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) |
                                         (h.ad ? 0x0020 : 0) | (h.cd ? 0x0010 : 0) | (h.rcode & 0xF));
  w.u16(flags);
  w.u16(qd);
  w.u16(an);
  w.u16(ns);
  w.u16(ar);
}

void write_rdata(writer& w, const resource_record& rr) {
  size_t len_at = w.size();
  w.u16(0);
  size_t start = w.size();
  if (auto ip = std::get_if<ip_address>(&rr.data)) {
    w.bytes(ip->data(), ip->size());
  } else if (auto n = std::get_if<name>(&rr.data)) {
    w.write_name(*n);  // RFC 3597 §4: compression allowed in PTR, CNAME, NS, SOA
  } else if (auto s = std::get_if<soa_data>(&rr.data)) {
    w.write_name(s->mname);
    w.write_name(s->rname);
    w.u32(s->serial);
    w.u32(s->refresh);
    w.u32(s->retry);
    w.u32(s->expire);
    w.u32(s->minimum);
  } else {
    const auto& raw = std::get<raw_rdata>(rr.data);
    w.bytes(raw.data(), raw.size());
  }
  w.patch_u16(len_at, static_cast<uint16_t>(w.size() - start));
}

void write_record(writer& w, const resource_record& rr) {
  w.write_name(rr.owner);
  w.u16(rr.type);
  w.u16(rr.klass);
  w.u32(rr.ttl);
  write_rdata(w, rr);
}

void write_opt(writer& w, const edns& e) {
  w.u8(0);  // owner: the root
  w.u16(rr_type::opt);
  w.u16(e.udp_payload);
  w.u32((uint32_t{e.extended_rcode} << 24) | (uint32_t{e.version} << 16) |
        (e.dnssec_ok ? 0x8000u : 0u));
  w.u16(static_cast<uint16_t>(e.options.size()));
  w.bytes(e.options.data(), e.options.size());
}

uint16_t count(size_t n) { return static_cast<uint16_t>(std::min<size_t>(n, 0xFFFF)); }

std::vector<uint8_t> serialize_parts(const message& msg, bool with_records, bool tc) {
  writer w;
  header h = msg.hdr;
  h.tc = h.tc || tc;
  size_t an = with_records ? msg.answers.size() : 0;
  size_t ns = with_records ? msg.authority.size() : 0;
  size_t ar = (with_records ? msg.additional.size() : 0) + (msg.opt ? 1 : 0);
  write_header(w, h, count(msg.questions.size()), count(an), count(ns), count(ar));
  for (const auto& q : msg.questions) {
    w.write_name(q.qname);
    w.u16(q.qtype);
    w.u16(q.qclass);
  }
  if (with_records) {
    for (const auto& rr : msg.answers) write_record(w, rr);
    for (const auto& rr : msg.authority) write_record(w, rr);
    for (const auto& rr : msg.additional) write_record(w, rr);
  }
  if (msg.opt) write_opt(w, *msg.opt);
  return w.take();
}

}  // namespace

// ---------------------------------------------------------------- name

result<name> name::parse(std::string_view text) {
  if (text == "." || text.empty()) return name();
  if (text.back() == '.') text.remove_suffix(1);
  std::vector<std::string> labels;
  size_t wire = 1;
  while (true) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > limits::max_label)
      return error(errc::invalid_argument, "invalid DNS name: label '" + std::string(label) +
                                               "' must be 1..63 characters");
    wire += 1 + label.size();
    if (wire > limits::max_name_wire)
      return error(errc::invalid_argument, "invalid DNS name: longer than 255 octets");
    labels.emplace_back(label);
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  return name(std::move(labels));
}

size_t name::wire_size() const noexcept {
  size_t n = 1;
  for (const auto& l : labels_) n += 1 + l.size();
  return n;
}

std::string name::key() const {
  std::string k;
  for (const auto& l : labels_) {
    if (!k.empty()) k.push_back('.');
    for (char c : l) k.push_back(lower(c));
  }
  return k;
}

std::string name::to_string() const {
  if (labels_.empty()) return ".";
  std::string s;
  for (const auto& l : labels_) {
    for (char c : l) {
      auto u = static_cast<unsigned char>(c);
      if (c == '.' || c == '\\') {
        s.push_back('\\');
        s.push_back(c);
      } else if (u < 0x21 || u > 0x7E) {
        char buf[5];
        std::snprintf(buf, sizeof buf, "\\%03u", u);
        s += buf;
      } else {
        s.push_back(c);
      }
    }
    s.push_back('.');
  }
  return s;
}

result<name> name::concat(const name& suffix) const {
  if (wire_size() + suffix.wire_size() - 1 > limits::max_name_wire)
    return error(errc::invalid_argument, "DNS name longer than 255 octets");
  auto labels = labels_;
  labels.insert(labels.end(), suffix.labels_.begin(), suffix.labels_.end());
  return name(std::move(labels));
}

bool name::equals(const name& other) const {
  if (labels_.size() != other.labels_.size()) return false;
  for (size_t i = 0; i < labels_.size(); ++i) {
    const auto& a = labels_[i];
    const auto& b = other.labels_[i];
    if (a.size() != b.size()) return false;
    for (size_t j = 0; j < a.size(); ++j)
      if (lower(a[j]) != lower(b[j])) return false;
  }
  return true;
}

// ---------------------------------------------------------------- message

rcode message::full_rcode() const noexcept {
  uint16_t ext = opt ? opt->extended_rcode : 0;
  return static_cast<rcode>((ext << 4) | hdr.rcode);
}

void message::set_rcode(rcode r) noexcept {
  auto v = static_cast<uint16_t>(r);
  hdr.rcode = static_cast<uint8_t>(v & 0xF);
  if (opt) opt->extended_rcode = static_cast<uint8_t>(v >> 4);
}

std::optional<header> parse_header(std::span<const uint8_t> wire) {
  if (wire.size() < header_size) return std::nullopt;
  reader r(wire);
  header h;
  uint16_t flags = 0;
  r.u16(h.id);
  r.u16(flags);
  r.u16(h.qdcount);
  r.u16(h.ancount);
  r.u16(h.nscount);
  r.u16(h.arcount);
  h.qr = flags & 0x8000;
  h.opcode = static_cast<uint8_t>((flags >> 11) & 0xF);
  h.aa = flags & 0x0400;
  h.tc = flags & 0x0200;
  h.rd = flags & 0x0100;
  h.ra = flags & 0x0080;
  h.ad = flags & 0x0020;
  h.cd = flags & 0x0010;
  h.rcode = static_cast<uint8_t>(flags & 0xF);
  return h;
}

result<message> parse(std::span<const uint8_t> wire) {
  auto h = parse_header(wire);
  if (!h) return malformed("shorter than a header");
  message msg;
  msg.hdr = *h;
  reader r(wire.subspan(0));
  raw_rdata skip;
  r.bytes(header_size, skip);
  for (uint16_t i = 0; i < h->qdcount; ++i) {
    auto q = read_question(r);
    if (!q) return std::move(q).err();
    msg.questions.push_back(std::move(*q));
  }
  struct {
    uint16_t n;
    std::vector<resource_record>* section;
  } sections[] = {{h->ancount, &msg.answers}, {h->nscount, &msg.authority},
                  {h->arcount, &msg.additional}};
  for (auto& s : sections)
    for (uint16_t i = 0; i < s.n; ++i) OVERLAYD_TRY(read_record(r, msg, *s.section));
  if (r.left() != 0) return malformed("trailing octets after the last record");
  return msg;
}

std::vector<uint8_t> serialize(const message& msg, size_t max_size) {
  auto full = serialize_parts(msg, true, false);
  if (full.size() <= max_size) return full;
  return serialize_parts(msg, false, true);
}

}  // namespace overlayd::net::dns
