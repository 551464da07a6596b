// One blocking query/reply exchange with the upstream resolvers, for TCP
// clients (each served on its own thread, so blocking there is fine; UDP
// clients are forwarded asynchronously by the server's event loop).
//
// Upstreams are tried in order, each for at most `timeout`: UDP first, and
// over TCP when the UDP reply is truncated (RFC 7766 §5). The upstream leg
// uses a fresh random id and a connected socket, so only the upstream can
// answer and an ICMP "port unreachable" moves on to the next one at once.
#pragma once

#include <chrono>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "net/dns/message.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

// The reply to `query`, with the client's id restored and at most
// `max_reply` octets; errc::timeout / errc::system when no upstream
// answered, errc::precondition when `stop_fd` fired.
result<std::vector<uint8_t>> exchange_with_upstreams(const message& query,
                                                     const std::vector<endpoint>& upstreams,
                                                     std::chrono::milliseconds timeout,
                                                     size_t max_reply, int stop_fd);

}  // namespace overlayd::net::dns
