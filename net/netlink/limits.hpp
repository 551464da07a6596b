// Sizes and time bounds of the rtnetlink layer, in one place.
#pragma once

#include <chrono>
#include <cstddef>

namespace overlayd::netlink::limits {

// Largest request we build (a veth pair: two names, nested link info).
inline constexpr size_t request_bytes = 1024;
// Receive buffer: the kernel sizes dump skbs up to 32 KiB when the reader
// offers that much, so a smaller buffer would truncate dump parts.
inline constexpr size_t receive_bytes = 32 * 1024;
// A kernel answer never takes this long; beyond it the call fails with timeout.
inline constexpr std::chrono::seconds reply_timeout{5};
// Bound on reply datagrams per request (a dump of ~1M links at ~1 KiB each
// fits; anything beyond is a runaway).
inline constexpr size_t max_reply_parts = 1u << 16;
// Attempts at a dump the kernel reports as interrupted by a concurrent change.
inline constexpr int dump_attempts = 4;
// Bound on links/addresses collected by one dump.
inline constexpr size_t max_dump_entries = 1u << 20;

}  // namespace overlayd::netlink::limits
