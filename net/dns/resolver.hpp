// The answering logic of the overlay DNS server as a pure function: query
// octets + a records snapshot + config → the reply octets, or "forward this
// upstream", or "drop". No sockets, no clocks; the server (server.hpp) does
// the I/O and the forwarding.
//
// What it answers (issue 7):
// - A/AAAA for registered names, as registered and under the domain
//   ("web" answers as "web." and "web.<domain>."), case-insensitively;
// - NXDOMAIN + SOA for unknown names inside the domain, NODATA (NOERROR +
//   SOA) for a known name without the asked type and for names above
//   registered ones (empty non-terminals, RFC 8020); REFUSED for zone
//   transfers;
// - PTR (in-addr.arpa, ip6.arpa) for addresses a record holds;
// - FORMERR for malformed queries whose header is readable, NOTIMP for
//   opcodes other than QUERY, BADVERS for EDNS versions above 0;
// - everything else is to be forwarded.
// Replies echo the id, the question (case included) and RD; set QR, AA for
// our data, RA when upstreams exist; fit the client's UDP size (512 without
// EDNS0, else its advertised size) and set TC when they do not.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "net/dns/limits.hpp"
#include "net/dns/message.hpp"
#include "net/dns/record_store.hpp"

namespace overlayd::net::dns {

struct resolver_config {
  name domain;  // the overlay zone, e.g. "overlay"; never the root
  // Further zones answered exactly like `domain` (the same records under
  // each): domains attaches named besides the node-wide one.
  std::vector<name> aliases;
  std::chrono::seconds ttl = limits::default_ttl;
  bool recursion_available = false;  // upstreams are configured
  uint16_t edns_payload = limits::udp_payload_advertised;
};

enum class transport { udp, tcp };

struct decision {
  enum class action { reply, forward, drop };
  action act = action::drop;
  std::vector<uint8_t> reply;  // act == reply
  message query;               // act == forward: the parsed client query
  size_t max_reply = 0;        // the largest reply this client accepts
};

decision resolve(std::span<const uint8_t> query, const record_table& records,
                 const resolver_config& cfg, transport via);

// The largest reply a client accepts over `via`, from its EDNS0 OPT.
size_t max_reply_size(const message& query, transport via);

// SERVFAIL (or another rcode) for a query we cannot answer, echoing its id,
// question and RD.
std::vector<uint8_t> error_reply(const message& query, rcode rc, const resolver_config& cfg);

// An upstream's reply for `query`, restored to the client's id and cut to
// `max_reply` (TC set) when larger. Empty if `reply` is not a reply to
// `query` (wrong question, not a response, malformed).
std::vector<uint8_t> relay_reply(std::span<const uint8_t> reply, const message& query,
                                 size_t max_reply);

// "4.3.2.1.in-addr.arpa" → 1.2.3.4, nibble form of ip6.arpa → v6 address.
std::optional<ip_address> parse_reverse_name(const name& n);

}  // namespace overlayd::net::dns
