#include "net/host/replay_policy.hpp"

#include <doctest/doctest.h>

using namespace overlayd::host;

namespace {
change make(change_kind k, std::map<std::string, std::string> p) { return change{k, std::move(p)}; }
const replay_policy policy = replay_policy::for_config("overlayd", {"/etc/systemd/network", "/etc/NetworkManager/conf.d"});
}  // namespace

TEST_CASE("replay policy: entries of the shapes the mutator writes are replayed") {
  const change ours[] = {
      make(change_kind::link, {{"name", "zl-web-b"}}),
      make(change_kind::link, {{"name", "veth-1234-web"}}),
      make(change_kind::address, {{"dev", "zl-web-b"}, {"cidr", "10.200.0.1/26"}}),
      make(change_kind::route, {{"dev", "zl-x-d"}, {"dst", "10.200.0.64/26"}}),
      make(change_kind::sysctl, {{"key", "net.ipv4.ip_forward"}, {"prev", "0"}}),
      make(change_kind::sysctl, {{"key", "net.ipv6.conf.zl-web-b.forwarding"}, {"prev", "0"}}),
      make(change_kind::sysctl, {{"key", "net.ipv6.conf.veth-12-a.force_forwarding"}, {"prev", "0"}}),
      make(change_kind::file, {{"path", "/etc/systemd/network/00-overlayd-unmanaged.network"}}),
      make(change_kind::file, {{"path", "/etc/NetworkManager/conf.d/99-overlayd-unmanaged.conf"}}),
      make(change_kind::nft_table, {{"table", "overlayd"}}),
      make(change_kind::nft_masquerade, {{"table", "overlayd"}}),
      make(change_kind::nft_subnet, {{"table", "overlayd"}, {"cidrs", "10.200.0.0/16,fd00::/64"}}),
      make(change_kind::nft_member, {{"table", "overlayd"}, {"network", "red"}, {"ip", "10.200.0.7"}}),
  };
  for (const auto& c : ours) {
    CAPTURE(c.describe());
    CHECK(policy.reject(c) == std::nullopt);
  }
}

TEST_CASE("replay policy: planted or foreign entries are rejected with a reason") {
  const change planted[] = {
      make(change_kind::sysctl, {{"key", "kernel.core_pattern"}, {"prev", "|/tmp/x"}}),
      make(change_kind::sysctl, {{"key", "net.ipv6.conf.all.forwarding"}, {"prev", "0"}}),
      make(change_kind::sysctl, {{"key", "net.ipv6.conf.eth0.forwarding"}, {"prev", "0"}}),
      make(change_kind::sysctl, {{"key", "net.ipv4.ip_forward"}, {"prev", "1; rm -rf /"}}),
      make(change_kind::file, {{"path", "/etc/passwd"}}),
      make(change_kind::file, {{"path", "/etc/systemd/network/../../passwd"}}),
      make(change_kind::link, {{"name", "eth0"}}),
      make(change_kind::link, {{"name", "zl-"}}),
      make(change_kind::link, {{"name", "zl-a/../b"}}),
      make(change_kind::link, {{"name", "veth-x-1"}}),
      make(change_kind::link, {{"name", "zl-waytoolongname"}}),
      make(change_kind::address, {{"dev", "eth0"}, {"cidr", "10.0.0.1/24"}}),
      make(change_kind::route, {{"dev", "lo"}, {"dst", "0.0.0.0/0"}}),
      make(change_kind::route, {{"dev", "zl-a-b"}, {"dst", "nonsense"}}),
      make(change_kind::nft_table, {{"table", "filter"}}),
      make(change_kind::nft_member, {{"table", "overlayd"}, {"network", "red"}, {"ip", "x"}}),
  };
  for (const auto& c : planted) {
    CAPTURE(c.describe());
    auto why = policy.reject(c);
    REQUIRE(why.has_value());
    CHECK_FALSE(why->empty());
  }
}
