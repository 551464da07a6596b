#include "net/nat/candidate.hpp"

#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>

#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {

std::string_view to_string(candidate_type t) noexcept {
  switch (t) {
    case candidate_type::host: return "host";
    case candidate_type::server_reflexive: return "server-reflexive";
    case candidate_type::relay: return "relay";
  }
  return "host";
}

std::optional<candidate_type> parse_candidate_type(std::string_view s) noexcept {
  if (s == "host") return candidate_type::host;
  if (s == "server-reflexive") return candidate_type::server_reflexive;
  if (s == "relay") return candidate_type::relay;
  return std::nullopt;
}

uint32_t default_priority(candidate_type t) noexcept {
  switch (t) {
    case candidate_type::host: return priority_host;
    case candidate_type::server_reflexive: return priority_server_reflexive;
    case candidate_type::relay: return priority_relay;
  }
  return 0;
}

candidate make_candidate(candidate_type t, const endpoint& ep) {
  return candidate{t, ep, default_priority(t)};
}

result<candidate> candidate_from_wire(const candidate_wire& w) {
  auto t = parse_candidate_type(w.candidate_type);
  if (!t) return error(errc::invalid_argument, "unknown candidate type '" + w.candidate_type + "'");
  auto ep = endpoint::parse(w.address);
  if (!ep) return error(errc::invalid_argument, "bad candidate address '" + w.address + "'");
  if (ep->port() == 0 || ep->ip().is_unspecified())
    return error(errc::invalid_argument, "candidate address '" + w.address + "' is not usable");
  return candidate{*t, *ep, w.priority};
}

candidate_wire candidate_to_wire(const candidate& c) {
  return candidate_wire{std::string(to_string(c.type)), c.address.to_string(), c.priority};
}

namespace {

bool virtual_link(std::string_view n) {
  return n.starts_with("zl-") || n.starts_with("veth") || n.starts_with("docker");
}

bool usable_address(const ip_address& a) {
  if (a.is_unspecified() || a.is_loopback()) return false;
  const uint8_t* b = a.data();
  if (a.is_v4()) return !(b[0] == 169 && b[1] == 254) && !(b[0] >= 224);
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return false;  // fe80::/10
  if (b[0] == 0xFF) return false;                             // multicast
  // v4-mapped addresses are never configured on links; skip defensively.
  return true;
}

}  // namespace

std::vector<candidate> host_candidates(const std::vector<interface_address>& addrs, uint16_t port) {
  std::vector<candidate> out;
  for (const auto& ia : addrs) {
    if (!ia.up || ia.loopback || virtual_link(ia.ifname) || !usable_address(ia.addr)) continue;
    auto c = make_candidate(candidate_type::host, endpoint(ia.addr, port));
    if (std::find(out.begin(), out.end(), c) != out.end()) continue;
    if (out.size() >= max_local_candidates) break;
    out.push_back(c);
  }
  return out;
}

result<std::vector<interface_address>> list_interface_addresses() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return system_error("getifaddrs", "host", errno);
  std::vector<interface_address> out;
  for (auto* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    int fam = i->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) continue;
    interface_address ia;
    ia.ifname = i->ifa_name ? i->ifa_name : "";
    ia.addr = endpoint::from_sockaddr(i->ifa_addr).ip();
    ia.up = (i->ifa_flags & IFF_UP) != 0;
    ia.loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
    out.push_back(std::move(ia));
  }
  freeifaddrs(list);
  return out;
}

void sort_candidates(std::vector<candidate>& cs) {
  std::stable_sort(cs.begin(), cs.end(),
                   [](const candidate& a, const candidate& b) { return a.priority > b.priority; });
  std::vector<candidate> unique;
  for (auto& c : cs)
    if (std::find(unique.begin(), unique.end(), c) == unique.end()) unique.push_back(c);
  cs = std::move(unique);
}

}  // namespace overlayd::net::nat
