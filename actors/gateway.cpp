#include "actors/gateway.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/traced.hpp"

namespace overlayd::actors {

namespace {
class gateway_impl : public traced<gateway_actor::base> {
 public:
  gateway_impl(caf::actor_config& cfg, observability* obs, supervisor_actor sup)
      : traced(cfg, obs, "gateway"), supervisor_(std::move(sup)) {}

  behavior_type make_behavior() override {
    return {
        [this](request_atom, correlation_id c, inbound_call& call) { route(c, call); },
        [this](routes_atom, allocator_actor a, dns_actor d, nat_orchestrator_actor n) {
          allocator_ = std::move(a);
          dns_ = std::move(d);
          nat_ = std::move(n);
        },
    };
  }

  void on_exit() override {
    supervisor_ = nullptr;
    allocator_ = nullptr;
    dns_ = nullptr;
    nat_ = nullptr;
  }

 private:
  void route(correlation_id c, inbound_call& call) {
    auto& r = call.request;
    if (auto* m = std::get_if<ipc::req::allocate_ip>(&r))
      return forward(allocator_, call.reply, alloc_ip_atom::value, c, *m);
    if (auto* m = std::get_if<ipc::req::release_ip>(&r))
      return forward(allocator_, call.reply, release_atom::value, c, *m);
    if (auto* m = std::get_if<ipc::req::register_dns>(&r))
      return forward(dns_, call.reply, dns_set_atom::value, c, *m);
    if (auto* m = std::get_if<ipc::req::unregister_dns>(&r))
      return forward(dns_, call.reply, dns_del_atom::value, c, *m);
    if (std::holds_alternative<ipc::req::nat_tick>(r)) return forward(nat_, call.reply, nat_tick_atom::value, c);
    if (std::holds_alternative<ipc::req::nat_status>(r)) return forward(nat_, call.reply, nat_stat_atom::value, c);
    forward(supervisor_, call.reply, serve_atom::value, c, r);
  }

  template <class Handle, class... Ts>
  void forward(const Handle& dest, reply_fn done, Ts&&... xs) {
    if (!dest) {
      done(ipc::resp::err{"overlay engine error: the engine is starting or stopping"});
      return;
    }
    request(dest, caf::infinite, std::forward<Ts>(xs)...)
        .then([done](correlation_id, ipc::response& resp) { done(std::move(resp)); },
              [done](caf::error& e) {
                done(ipc::resp::err{"overlay engine error: request failed inside the engine: " +
                                    caf::to_string(e)});
              });
  }

  supervisor_actor supervisor_;
  allocator_actor allocator_;
  dns_actor dns_;
  nat_orchestrator_actor nat_;
};
}  // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, observability* obs, supervisor_actor sup) {
  return sys.spawn<gateway_impl>(obs, std::move(sup));
}

}  // namespace overlayd::actors
