// gateway: where every request enters the actor system (Unix socket, HTTP,
// embedding API alike). Routes by op to the owning actor — allocate_ip and
// release_ip to the allocator, register_dns/unregister_dns to dns, the rest to
// the supervisor — and hands the reply to the caller's reply_fn. Never blocks:
// every hop is an asynchronous request. Timers: none.
#pragma once

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "actors/observability.hpp"

namespace overlayd::actors {

gateway_actor spawn_gateway(caf::actor_system& sys, observability* obs, supervisor_actor sup);

}  // namespace overlayd::actors
