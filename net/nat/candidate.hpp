// ICE-like candidates: where a peer might reach us. Host candidates are our
// own usable addresses with the WireGuard listen port; server-reflexive ones
// come from STUN; relay ones from TURN or our relay. The wire form is the IPC
// contract's NatCandidateWire: type "host" | "server-reflexive" | "relay",
// address "ip:port", priority (host 100, server-reflexive 50, relay 10).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::net::nat {

enum class candidate_type { host, server_reflexive, relay };

struct candidate {
  candidate_type type = candidate_type::host;
  endpoint address;
  uint32_t priority = 0;

  friend bool operator==(const candidate&, const candidate&) = default;
};

std::string_view to_string(candidate_type t) noexcept;
std::optional<candidate_type> parse_candidate_type(std::string_view s) noexcept;
uint32_t default_priority(candidate_type t) noexcept;
candidate make_candidate(candidate_type t, const endpoint& ep);

// The wire triple without depending on ipc/ (the lead maps NatCandidateWire
// field by field).
struct candidate_wire {
  std::string candidate_type;
  std::string address;
  uint32_t priority = 0;
  friend bool operator==(const candidate_wire&, const candidate_wire&) = default;
};

// Seed wire_to_candidate: bad type or address is an error; the priority is
// taken verbatim (the advertiser computed it).
result<candidate> candidate_from_wire(const candidate_wire& w);
candidate_wire candidate_to_wire(const candidate& c);

// One interface address as getifaddrs reports it.
struct interface_address {
  std::string ifname;
  ip_address addr;
  bool up = true;
  bool loopback = false;
};

// The host-candidate filter: skips down and loopback interfaces, loopback,
// unspecified, link-local (169.254/16, fe80::/10) and multicast addresses,
// and our own or container links (zl-*, veth*, docker*). Deduplicated, at
// most max_local_candidates.
std::vector<candidate> host_candidates(const std::vector<interface_address>& addrs, uint16_t port);
// Reads the host's addresses with getifaddrs.
result<std::vector<interface_address>> list_interface_addresses();

// Local candidates sorted by priority (highest first), duplicates removed.
void sort_candidates(std::vector<candidate>& cs);

}  // namespace overlayd::net::nat
