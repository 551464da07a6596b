// DNS messages (RFC 1035 §4) as plain structs, with a strict parser and a
// serializer that compresses names. Parsing never reads out of bounds: every
// length is checked against the buffer, compression pointers must point
// backwards (so they cannot loop), names are capped at 255 octets.
//
// Record data is decoded for the types this server speaks (A, AAAA, PTR,
// CNAME, NS, SOA); anything else is kept as raw rdata. The EDNS0 OPT
// pseudo-record (RFC 6891) is lifted out of the additional section into
// `message::edns`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

enum class rcode : uint16_t {  // 12 bits: 4 in the header, 8 more in OPT
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
  badvers = 16,
};

enum class opcode : uint8_t { query = 0 };

namespace rr_type {
inline constexpr uint16_t a = 1, ns = 2, cname = 5, soa = 6, ptr = 12, aaaa = 28, opt = 41,
                          ixfr = 251, axfr = 252, mailb = 253, maila = 254, any = 255;
}
namespace rr_class {
inline constexpr uint16_t in = 1, any = 255;
}

// A domain name as its labels, in the case received (0x20 case randomisation
// must be echoed back). Comparisons go through `key()`, lower-cased.
class name {
 public:
  name() = default;  // the root
  explicit name(std::vector<std::string> labels) : labels_(std::move(labels)) {}
  // Dotted text, a trailing dot optional ("web.overlay" == "web.overlay.").
  // Labels: 1..63 octets, no escapes; the whole at most 255 wire octets.
  static result<name> parse(std::string_view text);

  const std::vector<std::string>& labels() const noexcept { return labels_; }
  bool is_root() const noexcept { return labels_.empty(); }
  size_t wire_size() const noexcept;
  // Lower-case dotted form without the final dot ("" for the root): the key
  // for lookups and compression.
  std::string key() const;
  // Presentation form with the final dot; '.' and '\' in labels and
  // non-printable octets are escaped (\. \\ \DDD).
  std::string to_string() const;
  // This name followed by `suffix` (fails past 255 octets).
  result<name> concat(const name& suffix) const;
  bool equals(const name& other) const;  // case-insensitive

 private:
  std::vector<std::string> labels_;
};

struct soa_data {
  name mname, rname;
  uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

using raw_rdata = std::vector<uint8_t>;
// A/AAAA → ip_address, PTR/CNAME/NS → name, SOA → soa_data, else raw.
using rdata = std::variant<ip_address, name, soa_data, raw_rdata>;

struct resource_record {
  name owner;
  uint16_t type = 0;
  uint16_t klass = rr_class::in;
  uint32_t ttl = 0;
  rdata data;
};

struct question {
  name qname;
  uint16_t qtype = 0;
  uint16_t qclass = rr_class::in;
};

// EDNS0 (RFC 6891 §6.1): the OPT record's fields, options kept as raw bytes.
struct edns {
  uint16_t udp_payload = 0;
  uint8_t extended_rcode = 0;  // upper 8 bits of the 12-bit rcode
  uint8_t version = 0;
  bool dnssec_ok = false;
  raw_rdata options;
};

struct header {
  uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  uint8_t opcode = 0;  // 4 bits
  uint8_t rcode = 0;   // 4 bits (low part of the full rcode)
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
};
inline constexpr size_t header_size = 12;

struct message {
  header hdr;  // counts are recomputed by serialize()
  std::vector<question> questions;
  std::vector<resource_record> answers, authority, additional;
  std::optional<edns> opt;

  rcode full_rcode() const noexcept;
  void set_rcode(rcode r) noexcept;  // splits into header + OPT
};

// The 12-octet header, if the buffer has one (the minimum to answer FORMERR).
std::optional<header> parse_header(std::span<const uint8_t> wire);

// Whole message. errc::protocol on any malformed part, naming it.
result<message> parse(std::span<const uint8_t> wire);

// Serializes with name compression. If the result would exceed `max_size`,
// the message is cut to header + question (+ OPT), with TC set (RFC 2181 §9:
// a client that sees TC retries over TCP and gets everything there).
std::vector<uint8_t> serialize(const message& msg, size_t max_size = 65535);

}  // namespace overlayd::net::dns
