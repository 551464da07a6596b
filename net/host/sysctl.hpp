// sysctl read/write through /proc/sys, in the caller's network namespace
// (net.* entries are per namespace).
//
// Keys use sysctl(8) notation: dots separate levels, and a '/' inside a
// level stands for a literal dot ("net.ipv6.conf.eth0/5.forwarding" is
// /proc/sys/net/ipv6/conf/eth0.5/forwarding).
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace overlayd::host {

// The /proc/sys path of `key`; invalid_argument for empty levels or "..".
result<std::string> sysctl_path(std::string_view key, std::string_view root = "/proc/sys");
// The value with trailing whitespace removed; not_found when the key is absent.
result<std::string> read_sysctl(std::string_view key, std::string_view root = "/proc/sys");
status write_sysctl(std::string_view key, std::string_view value,
                    std::string_view root = "/proc/sys");

inline constexpr std::string_view ipv4_forward_key = "net.ipv4.ip_forward";
// Per-interface IPv6 forwarding. Never all.forwarding: setting that forces
// accept_ra=0 on every interface, dropping the RA-learned default route and
// PMTU of the physical NIC (see the seed's enable_forwarding_for_attach).
std::string ipv6_forwarding_key(std::string_view dev);
// Linux >= 6.17: per-interface `forwarding` alone does not route (the
// kernel's ip6_forward checks all.forwarding); `force_forwarding` on the
// ingress interface does. Absent on older kernels.
std::string ipv6_force_forwarding_key(std::string_view dev);

}  // namespace overlayd::host
