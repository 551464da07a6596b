// Routes in the main table. Families are checked before the kernel sees a
// request: a v4 destination with a v6 gateway or source is invalid_argument.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::netlink {

// Default route (0.0.0.0/0 or ::/0) via `gateway`, optionally pinned to a
// device. Replaces an existing default of that family.
status add_default_route(socket& s, const net::ip_address& gateway,
                         std::string_view dev = {});
// Creates or replaces `dst` (a /32 or /128 typically) via `dev`, scope link,
// with `src` as the preferred source when given.
status replace_dev_route(socket& s, const net::cidr& dst, std::string_view dev,
                         std::optional<net::ip_address> src = std::nullopt);
// Deletes `dst` via `dev` (an empty dev matches any); absent = success.
status delete_route(socket& s, const net::cidr& dst, std::string_view dev = {});
// Adds `dst dev DEV` only when no such route exists: true when it was
// missing and is back, false when it was there or DEV is gone (drift repair).
result<bool> restore_dev_route(socket& s, const net::cidr& dst, std::string_view dev,
                               std::optional<net::ip_address> src = std::nullopt);

// The names of the devices the main table's default routes of `fam` leave
// by (the host's uplinks); empty when there is no default route.
result<std::vector<std::string>> default_route_devices(socket& s, net::family fam);
// The MTU of the path the kernel would take toward `dst` (`ip route get`):
// the route's mtu metric if set, else its device's MTU. not_found when
// there is no route (unreachable) or it has no single device.
result<uint32_t> route_mtu(socket& s, const net::ip_address& dst);
// The same for the main table's default route of `dst`'s family; not_found
// when there is none.
result<uint32_t> default_route_mtu(socket& s, bool v6);

// Pure check used by the calls above (exposed for tests).
status check_route_families(const net::cidr& dst, const std::optional<net::ip_address>& gateway,
                            const std::optional<net::ip_address>& src);

}  // namespace overlayd::netlink
