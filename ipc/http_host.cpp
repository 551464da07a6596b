#include "ipc/http_host.hpp"

#include <algorithm>
#include <cctype>

namespace overlayd::ipc {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The name part of a Host value, without the port; empty when malformed.
std::string_view name_of(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return {};
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !all_digits(rest.substr(1)))) return {};
    return host.substr(1, close - 1);
  }
  const size_t colon = host.find(':');
  if (colon == std::string_view::npos) return host;
  if (!all_digits(host.substr(colon + 1))) return {};
  return host.substr(0, colon);
}

}  // namespace

bool host_allowed(std::string_view host, const net::ip_address& bound) {
  const std::string_view name = name_of(host);
  if (name.empty()) return false;
  if (iequals(name, "localhost")) return true;
  auto ip = net::ip_address::parse(name);
  if (!ip) return false;  // a DNS name other than localhost: the rebinding case
  if (bound.is_unspecified()) return true;
  if (bound.is_loopback() && ip->is_loopback()) return true;
  return *ip == bound;
}

}  // namespace overlayd::ipc
