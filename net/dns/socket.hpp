// The few socket operations the DNS server needs (fds in core/unique_fd.hpp).
// Blocking helpers wait with poll(2) on the socket and a stop eventfd, so a
// server stop wakes every thread within one poll.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

using overlayd::unique_fd;  // core/unique_fd.hpp

using deadline = std::chrono::steady_clock::time_point;

// Non-blocking UDP socket bound to `ep` (port 0: any); v6 sockets are v6-only.
result<unique_fd> open_udp(const endpoint& ep);
// Non-blocking listening TCP socket bound to `ep`.
result<unique_fd> open_tcp_listener(const endpoint& ep);
// The address a socket is bound to (to learn the port the kernel chose).
result<endpoint> local_endpoint(int fd);
// An eventfd that stays readable once signalled: the stop flag for poll.
result<unique_fd> open_stop_event();
void signal_stop(int event_fd);

// Where a datagram arrived, for sockets bound to a wildcard address: the
// reply must leave from that address (IP_PKTINFO / IPV6_PKTINFO, RFC 3542),
// or a multi-homed host answers from another one and the client drops it.
struct local_dst {
  bool set = false;
  ip_address addr;
  uint32_t ifindex = 0;
};
inline constexpr size_t pktinfo_space = 64;  // >= CMSG_SPACE(in6_pktinfo)
// Asks the kernel to report the destination of each datagram.
status enable_pktinfo(int fd, family fam);
local_dst read_pktinfo(const msghdr& msg);
// Writes the control message that makes a reply leave from `src` into
// `control` (pktinfo_space octets); returns its length (0 if !src.set).
size_t write_pktinfo(const local_dst& src, uint8_t* control);
// One datagram, from `src` when set; drops on a full buffer (the client retries).
void send_datagram(int fd, std::span<const uint8_t> data, const endpoint& to, const local_dst& src);

enum class wait_result { ready, timeout, stopped, error };
// Waits until `fd` is readable (or writable), `stop_fd` fires, or `until`.
wait_result wait_fd(int fd, bool for_write, int stop_fd, deadline until);

// Blocking-with-deadline I/O on a non-blocking stream socket.
status read_exact(int fd, std::span<uint8_t> out, int stop_fd, deadline until);
status write_all(int fd, std::span<const uint8_t> data, int stop_fd, deadline until);

// RFC 1035 §4.2.2 framing: a 2-octet length, then the message. Returns an
// empty message on clean EOF before the length.
result<std::vector<uint8_t>> read_framed(int fd, int stop_fd, deadline until);
status write_framed(int fd, std::span<const uint8_t> msg, int stop_fd, deadline until);

}  // namespace overlayd::net::dns
