// Address request builders and the RTM_NEWADDR parser (pure, unit-tested).
#pragma once

#include <optional>

#include "net/ip.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::netlink {

struct parsed_address {
  int index = 0;
  net::cidr addr;
};

// RTM_NEWADDR (add = true, NLM_F_CREATE|NLM_F_EXCL) or RTM_DELADDR.
request build_address(bool add, int index, const net::cidr& addr, bool nodad);
request build_dump_addresses(int family);  // AF_UNSPEC for both
std::optional<parsed_address> parse_address(const nlmsghdr* nlh);

}  // namespace overlayd::netlink
