#include "actors/allocator.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/traced.hpp"
#include "net/ipam.hpp"

namespace overlayd::actors {

namespace {
using reply = caf::result<correlation_id, ipc::response>;

ipc::response engine_error(const error& e) {
  return ipc::resp::err{"overlay engine error: " + e.message};
}

class allocator_impl : public traced<allocator_actor::base> {
 public:
  allocator_impl(caf::actor_config& cfg, observability* obs, net::cidr slice)
      : traced(cfg, obs, "allocator"), slice_pool_(slice) {}

  behavior_type make_behavior() override {
    return {
        [this](alloc_ip_atom, correlation_id c, const ipc::req::allocate_ip&) -> reply {
          // join_global reserves no second IP here: attach does (seed).
          auto ip = slice_pool_.allocate();
          if (!ip) return {c, engine_error(ip.err())};
          return {c, ipc::resp::ip{*ip}};
        },
        [this](release_atom, correlation_id c, const ipc::req::release_ip& r) -> reply {
          slice_pool_.release(r.ip);
          return {c, ipc::resp::ok{}};
        },
        [this](configure_atom, correlation_id c, const slice_config& cfg) -> reply {
          if (cfg.slice.normalized() != slice_pool_.range())
            slice_pool_ = net::ip_allocator(cfg.slice);
          return {c, ipc::resp::ok{}};
        },
    };
  }

 private:
  net::ip_allocator slice_pool_;
};
}  // namespace

net::cidr default_node_slice() { return *net::cidr::parse("10.200.0.0/16"); }

allocator_actor spawn_allocator(caf::actor_system& sys, observability* obs, net::cidr slice) {
  return sys.spawn<allocator_impl>(obs, slice);
}

}  // namespace overlayd::actors
