// Addresses, CIDRs and socket endpoints: the domain types every module uses.
// Parsing is strict (inet_pton rules; "ip:port" and "[v6]:port"), formatting
// is canonical (inet_ntop), so a round trip is the identity on valid input.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace overlayd::net {

enum class family : uint8_t { v4 = 4, v6 = 6 };

// An IPv4 or IPv6 address. v4 addresses use bytes[0..4); the rest is zero.
class ip_address {
 public:
  ip_address() = default;  // 0.0.0.0
  static ip_address v4(uint32_t host_order);
  static ip_address v4(std::array<uint8_t, 4> b);
  static ip_address v6(const std::array<uint8_t, 16>& b);
  static result<ip_address> parse(std::string_view text);

  family fam() const noexcept { return fam_; }
  bool is_v4() const noexcept { return fam_ == family::v4; }
  bool is_v6() const noexcept { return fam_ == family::v6; }
  unsigned bits() const noexcept { return is_v4() ? 32 : 128; }
  const uint8_t* data() const noexcept { return bytes_.data(); }
  size_t size() const noexcept { return is_v4() ? 4 : 16; }
  uint32_t v4_host_order() const noexcept;  // only meaningful for v4
  bool is_unspecified() const noexcept;
  bool is_loopback() const noexcept;

  // this + n (wrapping within the family's width); for v6 only the low 64 bits
  // carry, which is all an allocator needs.
  ip_address plus(uint64_t n) const noexcept;
  // this + n over the full 128 bits (v6 service-subnet slots of a /48 or
  // wider cluster are numbered past 2^64 addresses).
  ip_address plus_wide(unsigned __int128 n) const noexcept;
  // Bit i counted from the most significant bit (0 = top bit).
  bool bit(unsigned i) const noexcept { return (bytes_[i / 8] >> (7 - i % 8)) & 1; }

  std::string to_string() const;

  friend auto operator<=>(const ip_address&, const ip_address&) = default;
  friend bool operator==(const ip_address&, const ip_address&) = default;

 private:
  family fam_ = family::v4;
  std::array<uint8_t, 16> bytes_{};
};

// A network prefix "addr/len". `parse` accepts host bits set ("10.0.0.5/24")
// and keeps the address as given; `network()` masks them.
class cidr {
 public:
  cidr() = default;
  cidr(ip_address addr, unsigned prefix_len) : addr_(addr), len_(prefix_len) {}
  static result<cidr> parse(std::string_view text);

  const ip_address& address() const noexcept { return addr_; }
  unsigned prefix_len() const noexcept { return len_; }
  family fam() const noexcept { return addr_.fam(); }
  ip_address network() const noexcept;
  ip_address broadcast() const noexcept;  // last address of the prefix
  bool contains(const ip_address& ip) const noexcept;
  bool contains(const cidr& other) const noexcept;
  bool overlaps(const cidr& other) const noexcept;
  cidr normalized() const { return cidr(network(), len_); }
  std::string to_string() const;

  friend bool operator==(const cidr&, const cidr&) = default;

 private:
  ip_address addr_;
  unsigned len_ = 0;
};

// A UDP/TCP socket address, "1.2.3.4:51820" or "[fd00::1]:51820".
class endpoint {
 public:
  endpoint() = default;
  endpoint(ip_address ip, uint16_t port) : ip_(ip), port_(port) {}
  static result<endpoint> parse(std::string_view text);
  static endpoint from_sockaddr(const sockaddr* sa);

  const ip_address& ip() const noexcept { return ip_; }
  uint16_t port() const noexcept { return port_; }
  // Fills `out`; returns the length to pass to sendto/bind. v4 addresses are
  // written as v4-mapped v6 when `as_v6` (for a dual-stack socket).
  socklen_t to_sockaddr(sockaddr_storage& out, bool as_v6 = false) const noexcept;
  std::string to_string() const;

  friend auto operator<=>(const endpoint&, const endpoint&) = default;
  friend bool operator==(const endpoint&, const endpoint&) = default;

 private:
  ip_address ip_;
  uint16_t port_ = 0;
};

// Parses a comma-separated CIDR list ("10.0.0.1/32, fd00::/64"); empty items
// are skipped. The error names the offending item.
result<std::vector<cidr>> parse_cidr_list(std::string_view text);

}  // namespace overlayd::net

template <>
struct std::hash<overlayd::net::ip_address> {
  size_t operator()(const overlayd::net::ip_address& a) const noexcept;
};
