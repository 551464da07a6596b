#include "net/ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace overlayd::net {

ip_address ip_address::v4(uint32_t host_order) {
  return v4({static_cast<uint8_t>(host_order >> 24), static_cast<uint8_t>(host_order >> 16),
             static_cast<uint8_t>(host_order >> 8), static_cast<uint8_t>(host_order)});
}

ip_address ip_address::v4(std::array<uint8_t, 4> b) {
  ip_address a;
  a.fam_ = family::v4;
  std::memcpy(a.bytes_.data(), b.data(), 4);
  return a;
}

ip_address ip_address::v6(const std::array<uint8_t, 16>& b) {
  ip_address a;
  a.fam_ = family::v6;
  a.bytes_ = b;
  return a;
}

result<ip_address> ip_address::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN)
    return error(errc::invalid_argument, "invalid IP address '" + std::string(text) + "'");
  std::string s(text);
  std::array<uint8_t, 16> buf{};
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), buf.data()) == 1) return v4({buf[0], buf[1], buf[2], buf[3]});
  } else if (inet_pton(AF_INET6, s.c_str(), buf.data()) == 1) {
    return v6(buf);
  }
  return error(errc::invalid_argument, "invalid IP address '" + s + "'");
}

uint32_t ip_address::v4_host_order() const noexcept {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

bool ip_address::is_unspecified() const noexcept {
  for (size_t i = 0; i < size(); ++i)
    if (bytes_[i]) return false;
  return true;
}

bool ip_address::is_loopback() const noexcept {
  if (is_v4()) return bytes_[0] == 127;
  for (size_t i = 0; i < 15; ++i)
    if (bytes_[i]) return false;
  return bytes_[15] == 1;
}

ip_address ip_address::plus(uint64_t n) const noexcept { return plus_wide(n); }

ip_address ip_address::plus_wide(unsigned __int128 n) const noexcept {
  ip_address r = *this;
  if (is_v4()) return v4(static_cast<uint32_t>(v4_host_order() + static_cast<uint32_t>(n)));
  // 128-bit add with carry, least significant byte first.
  unsigned carry = 0;
  for (int i = 15; i >= 0; --i) {
    unsigned sum = r.bytes_[i] + static_cast<unsigned>(n & 0xff) + carry;
    r.bytes_[i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
    n >>= 8;
  }
  return r;
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

namespace {
ip_address mask(const ip_address& a, unsigned len, bool set_host_bits) {
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), a.data(), a.size());
  for (unsigned i = 0; i < a.bits(); ++i) {
    if (i < len) continue;
    uint8_t m = static_cast<uint8_t>(0x80u >> (i % 8));
    if (set_host_bits)
      b[i / 8] |= m;
    else
      b[i / 8] &= static_cast<uint8_t>(~m);
  }
  if (a.is_v4()) return ip_address::v4({b[0], b[1], b[2], b[3]});
  return ip_address::v6(b);
}
}  // namespace

result<cidr> cidr::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return error(errc::invalid_argument,
                 "invalid CIDR '" + std::string(text) + "': " + std::string(why));
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad("missing '/prefix'");
  auto ip = ip_address::parse(text.substr(0, slash));
  if (!ip) return bad("bad address");
  auto len_s = text.substr(slash + 1);
  unsigned len = 0;
  auto [p, ec] = std::from_chars(len_s.data(), len_s.data() + len_s.size(), len);
  if (len_s.empty() || ec != std::errc() || p != len_s.data() + len_s.size())
    return bad("bad prefix length");
  if (len > ip->bits()) return bad("prefix length exceeds " + std::to_string(ip->bits()));
  return cidr(*ip, len);
}

ip_address cidr::network() const noexcept { return mask(addr_, len_, false); }
ip_address cidr::broadcast() const noexcept { return mask(addr_, len_, true); }

bool cidr::contains(const ip_address& ip) const noexcept {
  if (ip.fam() != addr_.fam()) return false;
  return mask(ip, len_, false) == network();
}

bool cidr::contains(const cidr& other) const noexcept {
  return other.fam() == fam() && other.len_ >= len_ && contains(other.addr_);
}

bool cidr::overlaps(const cidr& other) const noexcept {
  return contains(other) || other.contains(*this);
}

std::string cidr::to_string() const { return addr_.to_string() + "/" + std::to_string(len_); }

result<endpoint> endpoint::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return error(errc::invalid_argument,
                 "invalid endpoint '" + std::string(text) + "': " + std::string(why));
  };
  std::string_view host, port_s;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return bad("expected [v6]:port");
    host = text.substr(1, close - 1);
    port_s = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("missing ':port'");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return bad("IPv6 needs brackets: [v6]:port");
    port_s = text.substr(colon + 1);
  }
  auto ip = ip_address::parse(host);
  if (!ip) return bad("bad address");
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), port);
  if (port_s.empty() || ec != std::errc() || p != port_s.data() + port_s.size() || port > 65535)
    return bad("bad port");
  if (ip->is_v6() && host.find('.') != std::string_view::npos) {
    // "[::ffff:1.2.3.4]:p" -> keep as given (v6); that is what the kernel reports too.
  }
  return endpoint(*ip, static_cast<uint16_t>(port));
}

endpoint endpoint::from_sockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::array<uint8_t, 4> b{};
    std::memcpy(b.data(), &in->sin_addr, 4);
    return endpoint(ip_address::v4(b), ntohs(in->sin_port));
  }
  auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), &in6->sin6_addr, 16);
  // v4-mapped (::ffff:a.b.c.d) comes back as plain v4: peers are configured that way.
  static constexpr uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b.data(), mapped, 12) == 0)
    return endpoint(ip_address::v4({b[12], b[13], b[14], b[15]}), ntohs(in6->sin6_port));
  return endpoint(ip_address::v6(b), ntohs(in6->sin6_port));
}

socklen_t endpoint::to_sockaddr(sockaddr_storage& out, bool as_v6) const noexcept {
  std::memset(&out, 0, sizeof out);
  if (ip_.is_v4() && !as_v6) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port_);
    std::memcpy(&in->sin_addr, ip_.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port_);
  if (ip_.is_v4()) {
    uint8_t* b = reinterpret_cast<uint8_t*>(&in6->sin6_addr);
    b[10] = b[11] = 0xff;
    std::memcpy(b + 12, ip_.data(), 4);
  } else {
    std::memcpy(&in6->sin6_addr, ip_.data(), 16);
  }
  return sizeof(sockaddr_in6);
}

std::string endpoint::to_string() const {
  if (ip_.is_v6()) return "[" + ip_.to_string() + "]:" + std::to_string(port_);
  return ip_.to_string() + ":" + std::to_string(port_);
}

result<std::vector<cidr>> parse_cidr_list(std::string_view text) {
  std::vector<cidr> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      auto c = cidr::parse(item);
      if (!c) return std::move(c).err();
      out.push_back(*c);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace overlayd::net

size_t std::hash<overlayd::net::ip_address>::operator()(
    const overlayd::net::ip_address& a) const noexcept {
  size_t h = static_cast<size_t>(a.fam());
  for (size_t i = 0; i < a.size(); ++i) h = h * 131 + a.data()[i];
  return h;
}
