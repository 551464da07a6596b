// Protocol constants and limits of the overlay DNS server, in one place, with
// units in the types. Every collection a user or a peer can grow is bounded
// by a constant here and checked at insertion.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace overlayd::net::dns::limits {

// RFC 1035 §2.3.4: labels are 1..63 octets, a name at most 255 octets on the
// wire (253 characters in dotted text without the final dot).
inline constexpr size_t max_label = 63;
inline constexpr size_t max_name_wire = 255;
// A compressed name may chain pointers; each must point strictly backwards,
// which already rules out loops; this also caps the work per name.
inline constexpr size_t max_pointer_hops = 64;

// RFC 1035 §4.2.1: a UDP answer without EDNS0 is at most 512 octets.
inline constexpr size_t udp_payload_classic = 512;
// What we advertise and accept as the largest UDP payload (the DNS flag day
// 2020 value, which avoids IP fragmentation on common paths).
inline constexpr uint16_t udp_payload_advertised = 1232;
// Largest UDP datagram we read; larger client EDNS sizes are clamped to it.
inline constexpr size_t udp_payload_max = 4096;
// RFC 1035 §4.2.2: TCP messages carry a 16-bit length prefix.
inline constexpr size_t tcp_message_max = 65535;

inline constexpr std::chrono::seconds default_ttl{30};
inline constexpr std::chrono::milliseconds default_upstream_timeout{2000};

// Records: names registered, addresses per name (set() replaces, add() grows).
inline constexpr size_t max_record_names = 16384;
inline constexpr size_t max_addresses_per_name = 64;

// Queries forwarded upstream and not yet answered (UDP clients); a full
// table answers SERVFAIL instead of growing.
inline constexpr size_t max_pending_forwards = 4096;

// TCP clients (RFC 7766 §6.2.3: bound connections and close idle ones).
inline constexpr size_t max_tcp_connections = 64;
inline constexpr std::chrono::seconds tcp_idle_timeout{10};

// Listen endpoints a server may hold (node IP, loopback, test addresses).
inline constexpr size_t max_listen_endpoints = 16;
// Domains answered besides the node-wide one (attaches' dns_domain values).
inline constexpr size_t max_extra_domains = 64;
inline constexpr size_t max_upstreams = 8;

// A query is checked by its header counts before any parsing: exactly one
// question (RFC 9619), no answers, at most this many authority + additional
// records (OPT, a TSIG, a cookie...). Anything else is FORMERR at the cost of
// reading 12 octets: a 4 KiB query of 640 questions or of pointer chains
// never reaches the parser.
inline constexpr uint16_t max_query_extra_records = 4;

// Recursion (forwarding) answers only clients on loopback, on this host (the
// query's source is the address it was sent to), or in the allowed CIDRs (the
// cluster, --dns-allow); everyone else gets REFUSED: not an open resolver.
inline constexpr size_t max_recursion_allow = 64;

// Response rate limiting (as BIND's RRL) per client prefix: /24 for IPv4,
// /56 for IPv6; a token bucket per prefix. Over the limit, every
// rrl_slip-th response goes out truncated (TC: a real client retries over
// TCP, which a spoofer cannot), the others are dropped. Loopback is exempt.
inline constexpr unsigned rrl_prefix_v4 = 24, rrl_prefix_v6 = 56;
inline constexpr double rrl_default_per_second = 200;
inline constexpr double rrl_default_burst = 400;
inline constexpr unsigned rrl_slip = 2;
inline constexpr size_t rrl_max_prefixes = 16384;

// RFC 6891 §6.1.3: a requester's payload size below 512 is treated as 512.
inline constexpr uint16_t edns_min_payload = 512;

}  // namespace overlayd::net::dns::limits
