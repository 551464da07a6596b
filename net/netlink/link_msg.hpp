// Link request builders and the RTM_NEWLINK parser: pure functions over
// netlink buffers (no socket), unit-tested in link_msg.test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "net/netlink/link.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::netlink {

// By name when `index` == 0, else by index.
request build_get_link(std::string_view name, int index);
request build_dump_links();
request build_set_flags(int index, uint32_t flags, uint32_t change);
request build_set_mtu(int index, uint32_t mtu);
request build_delete_link(std::string_view name);
// `exclusive`: NLM_F_CREATE|NLM_F_EXCL; else a plain update of an existing
// bridge (used to force STP off on one that already existed).
request build_new_bridge(std::string_view name, bool exclusive);
request build_new_veth(std::string_view name, std::string_view peer);
request build_move_netns(int index, int netns_fd, std::string_view new_name);
request build_set_master(int index, int master_index);

// Parses one RTM_NEWLINK message; nullopt for other types or a malformed one.
std::optional<link_info> parse_link(const nlmsghdr* nlh);

}  // namespace overlayd::netlink
