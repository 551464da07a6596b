// dns: the overlay DNS records the agent registers (register_dns /
// unregister_dns), keyed by name as given. Bounded: at most max_records.
// Timers: none.
#pragma once

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::actors {

constexpr size_t max_dns_records = 65536;

dns_actor spawn_dns(caf::actor_system& sys, observability* obs);

}  // namespace overlayd::actors
