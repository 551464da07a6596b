// Default upstreams: the host's resolv.conf nameservers, minus loopback
// entries (a stub such as systemd-resolved's 127.0.0.53 is not reachable
// from containers, and forwarding to ourselves would loop).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

// resolv.conf(5) text → the nameserver endpoints (port 53), in order,
// without loopback, unspecified and scoped (fe80::1%eth0) entries; comments
// ('#', ';') and other keywords are skipped. Never fails: junk is ignored.
std::vector<endpoint> parse_resolv_conf(std::string_view text);

// Reads and parses a file; errc::system if it cannot be read.
result<std::vector<endpoint>> read_resolv_conf(const std::string& path);

// /etc/resolv.conf, or when that has only loopback entries, the upstream
// list systemd-resolved keeps in /run/systemd/resolve/resolv.conf.
std::vector<endpoint> default_upstreams();

}  // namespace overlayd::net::dns
