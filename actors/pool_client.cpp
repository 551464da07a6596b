#include "actors/pool_client.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>

#include "actors/traced.hpp"
#include "core/tsan.hpp"

namespace overlayd::actors {

void pool_client::set(allocator_actor a) {
  std::lock_guard lk(mu_);
  a_ = std::move(a);
}

pool_reply pool_client::ask(caf::actor_system& sys, pool_request r) const {
  allocator_actor a;
  {
    std::lock_guard lk(mu_);
    a = a_;
  }
  pool_reply out;
  out.failure = error(errc::internal, "allocator did not answer");
  if (!a) return out;
  caf::scoped_actor self{sys};
  self->request(a, std::chrono::seconds(10), pools_atom::value, correlation_id{0}, std::move(r))
      .receive(
          [&](correlation_id, pool_reply& rep) {
            tsan::happens_after(actor_sync(a));  // allocator: reply_built()
            out = std::move(rep);
          },
               [&](caf::error& e) {
                 out.failure = error(errc::internal, "allocator: " + caf::to_string(e));
               });
  return out;
}

}  // namespace overlayd::actors
