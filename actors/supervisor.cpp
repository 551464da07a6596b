#include "actors/supervisor.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/allocator.hpp"
#include "actors/dns.hpp"
#include "actors/traced.hpp"

namespace overlayd::actors {

namespace {
using reply = caf::result<correlation_id, ipc::response>;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

// The node's identity and global overlay state as the seed keeps it.
struct engine_state {
  uint64_t local_node_id = 0;
  std::optional<std::string> local_wg_pubkey;
  net::cidr node_slice = default_node_slice();
};

class supervisor_impl : public traced<supervisor_actor::base> {
 public:
  supervisor_impl(caf::actor_config& cfg, observability* obs)
      : traced(cfg, obs, "supervisor"), obs_(obs) {
    set_down_handler([this](caf::down_msg& dm) { on_child_down(dm); });
  }

  behavior_type make_behavior() override {
    return {
        [this](init_atom, gateway_actor gw) -> bool {
          gateway_ = gw;
          allocator_ = spawn_allocator(system(), obs_, state_.node_slice);
          dns_ = spawn_dns(system(), obs_);
          monitor(allocator_);
          monitor(dns_);
          send(gateway_, routes_atom::value, allocator_, dns_);
          return true;
        },
        [this](serve_atom, correlation_id c, const ipc::request& r) -> reply {
          return {c, serve(r)};
        },
        [this](stop_atom, correlation_id c) -> reply {
          stopping_ = true;
          revert_host_state();
          return {c, ipc::resp::ok{}};
        },
    };
  }

  void on_exit() override {
    // Children do not outlive the supervisor.
    stopping_ = true;
    if (allocator_) anon_send_exit(allocator_, caf::exit_reason::user_shutdown);
    if (dns_) anon_send_exit(dns_, caf::exit_reason::user_shutdown);
    allocator_ = nullptr;
    dns_ = nullptr;
    gateway_ = nullptr;
  }

 private:
  ipc::response serve(const ipc::request& r) {
    return std::visit(
        overloaded{
            [this](const ipc::req::set_local_node_id& m) -> ipc::response {
              state_.local_node_id = m.node_id;
              return ipc::resp::ok{};
            },
            [this](const ipc::req::set_local_wg_pubkey& m) -> ipc::response {
              state_.local_wg_pubkey = m.pubkey;
              return ipc::resp::ok{};
            },
            [](const ipc::req::status&) -> ipc::response {
              // Before any global setup every optional is absent and counts are 0.
              return ipc::resp::status{ipc::status_snapshot{}};
            },
            [](const ipc::req::nat_status&) -> ipc::response {
              return ipc::resp::nat_status{ipc::nat_status_wire{}};
            },
            [](const ipc::req::write_scoped_resolver& m) -> ipc::response {
              return ipc::resp::err{"overlay engine error: write_scoped_resolver(" + m.zone +
                                    "): scoped resolvers are macOS-only; on Linux overlay DNS "
                                    "is served on the node's overlay IP"};
            },
            [](const ipc::req::remove_scoped_resolver& m) -> ipc::response {
              return ipc::resp::err{"overlay engine error: remove_scoped_resolver(" + m.zone +
                                    "): scoped resolvers are macOS-only"};
            },
            [this](const ipc::req::shutdown&) -> ipc::response {
              stopping_ = true;
              revert_host_state();
              return ipc::resp::ok{};
            },
            [&r](const auto&) -> ipc::response {
              return ipc::resp::err{std::string(ipc::op_name(r)) + " is not implemented yet"};
            },
        },
        r);
  }

  // Reverse order of setup. Nothing host-side exists before the engine lands.
  void revert_host_state() {}

  void on_child_down(const caf::down_msg& dm) {
    if (stopping_) return;
    if (allocator_ && dm.source == allocator_.address()) {
      spdlog::warn("allocator exited ({}); restarting it", to_string(dm.reason));
      allocator_ = spawn_allocator(system(), obs_, state_.node_slice);
      monitor(allocator_);
    } else if (dns_ && dm.source == dns_.address()) {
      spdlog::warn("dns actor exited ({}); restarting it", to_string(dm.reason));
      dns_ = spawn_dns(system(), obs_);
      monitor(dns_);
    } else {
      return;
    }
    if (gateway_) send(gateway_, routes_atom::value, allocator_, dns_);
  }

  observability* obs_;
  engine_state state_;
  gateway_actor gateway_;
  allocator_actor allocator_;
  dns_actor dns_;
  bool stopping_ = false;
};
}  // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs) {
  return sys.spawn<supervisor_impl>(obs);
}

}  // namespace overlayd::actors
