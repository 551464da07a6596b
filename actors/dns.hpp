// dns: overlay DNS. Owns the server (net/dns/server.hpp) that answers the
// records the agent registers (register_dns / unregister_dns) on UDP and TCP:
// on the extra listen addresses configured (--dns-listen) from the start, and
// on <node_ip>:53 while the global overlay is up (the supervisor says so).
//
// The record store is the supervisor's and is shared with each incarnation of
// this actor, so a restarted dns actor serves every name registered before.
// Timers: none here (the server's upstream and TCP idle timeouts are its own).
#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::net::dns {
class record_store;
}

namespace overlayd::actors {

struct dns_config {
  std::string domain = "overlay";
  std::chrono::seconds ttl{30};
  std::vector<net::endpoint> listen;                   // served from the start
  std::optional<std::vector<net::endpoint>> upstreams; // nullopt: /etc/resolv.conf minus loopback
  std::vector<net::cidr> recursion_allow;  // --dns-allow; the cluster is added at global setup
};

dns_actor spawn_dns(caf::actor_system& sys, observability* obs, dns_config cfg,
                    std::shared_ptr<net::dns::record_store> store);

}  // namespace overlayd::actors
