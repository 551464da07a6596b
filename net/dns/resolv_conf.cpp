#include "net/dns/resolv_conf.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace overlayd::net::dns {

std::vector<endpoint> parse_resolv_conf(std::string_view text) {
  std::vector<endpoint> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (size_t c = line.find_first_of("#;"); c != std::string_view::npos) line = line.substr(0, c);
    auto next_word = [&line]() {
      size_t b = line.find_first_not_of(" \t\r");
      if (b == std::string_view::npos) return std::string_view{};
      line.remove_prefix(b);
      size_t e = line.find_first_of(" \t\r");
      auto w = line.substr(0, e);
      line.remove_prefix(e == std::string_view::npos ? line.size() : e);
      return w;
    };
    if (next_word() != "nameserver") continue;
    auto ip = ip_address::parse(next_word());  // "fe80::1%eth0" fails here: skipped
    if (!ip || ip->is_loopback() || ip->is_unspecified()) continue;
    endpoint ep(*ip, 53);
    if (std::find(out.begin(), out.end(), ep) == out.end()) out.push_back(ep);
  }
  return out;
}

result<std::vector<endpoint>> read_resolv_conf(const std::string& path) {
  std::ifstream in(path);
  if (!in) return system_error("read", path, errno);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_resolv_conf(ss.str());
}

std::vector<endpoint> default_upstreams() {
  for (const char* path : {"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}) {
    auto r = read_resolv_conf(path);
    if (r && !r->empty()) return std::move(*r);
  }
  return {};
}

}  // namespace overlayd::net::dns
