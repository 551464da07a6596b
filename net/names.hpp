// Deterministic Linux interface names for everything the daemon creates.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace overlayd::net {

// IFNAMSIZ - 1.
constexpr size_t max_ifname_len = 15;

// "zl-<parts joined by '-'>[-<suffix>]" when that fits in 15 bytes; otherwise
// "zl-<hash>[-<suffix>]" with as many lowercase hex digits of a 64-bit hash of
// the parts as fit. The hash is the one Rust's std DefaultHasher computes
// (SipHash-1-3, zero keys, each str followed by 0xff), so our names equal the
// Rust daemon's and a node can switch daemons without orphaning its links.
std::string make_interface_name(const std::vector<std::string_view>& parts,
                                std::string_view suffix);

// SipHash-1-3 with keys (0, 0) over `data`: Rust's DefaultHasher::new().
uint64_t siphash13_zero_key(std::string_view data);

// An isolation network's name goes into nftables set comments and the host
// journal verbatim: 1..128 printable ASCII bytes. The one place the rule
// lives: the IPC edge refuses other names up front, the host layer again.
constexpr size_t max_isolation_network_bytes = 128;
// Empty when `name` is acceptable, else why it is not.
std::string isolation_network_name_problem(std::string_view name);

}  // namespace overlayd::net
