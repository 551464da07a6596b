// Which Host headers the HTTP control API answers. A page on any web site can
// make a browser on this machine send requests to 127.0.0.1:7420 under a name
// the attacker controls (DNS rebinding); the browser still sends that name in
// Host. So a request must name the address we are bound to, or `localhost`;
// anything else gets 421 Misdirected Request before any handler runs.
#pragma once

#include <string_view>

#include "net/ip.hpp"

namespace overlayd::ipc {

// `host` is the Host header value: name, IPv4 literal or [IPv6 literal], with
// an optional :port. Accepted: "localhost" (any case) and, for a loopback
// bind, any loopback literal; the literal of the bound address; for a
// wildcard bind (0.0.0.0 / ::), any IP literal (every endpoint needs the
// token there anyway). An empty or missing Host is refused.
bool host_allowed(std::string_view host, const net::ip_address& bound);

}  // namespace overlayd::ipc
