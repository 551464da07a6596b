// pool_client: how the supervisor and its per-service children ask the
// allocator for pool operations, synchronously (they are detached actors,
// so blocking on a reply stalls no scheduler thread).
//
// The allocator's handle changes when the supervisor restarts it; every
// child shares one pool_client, so they all follow.
#pragma once

#include <caf/fwd.hpp>

#include <mutex>

#include "actors/messages.hpp"

namespace overlayd::actors {

class pool_client {
 public:
  void set(allocator_actor a);
  // The allocator's reply, or a failure saying it did not answer (10 s).
  pool_reply ask(caf::actor_system& sys, pool_request r) const;

 private:
  mutable std::mutex mu_;  // guards a_
  allocator_actor a_;
};

}  // namespace overlayd::actors
