#include "actors/supervisor.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <caf/send.hpp>
#include <caf/spawn_options.hpp>

#include <cstdlib>
#include <map>

#include "actors/allocator.hpp"
#include "actors/dns.hpp"
#include "actors/traced.hpp"
#include "net/dns/record_store.hpp"
#include "net/host/mutator.hpp"
#include "net/ipam.hpp"
#include "net/overlay/global_overlay.hpp"

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
  std::string deployment;
  std::string instance_id;
  uint16_t overlay_port = 0;
  std::optional<net::cidr> cluster;
  std::optional<net::cidr> slice;  // only when the agent gave one
  std::optional<ipc::nat_config_spec> nat;
  std::optional<std::string> relay_credential;
  // Global peers as the agent sent them (a guest attach reproduces them).
  std::map<std::string, ipc::peer_spec> global_peers;
};

ipc::response engine_error(const std::string& what) {
  return ipc::resp::err{"overlay engine error: " + what};
}

ipc::peer_status to_wire(const wg::peer_status& p) {
  ipc::peer_status w;
  w.public_key = crypto::key_to_base64(p.key.span());
  if (p.endpoint) w.endpoint = p.endpoint->to_string();
  for (size_t i = 0; i < p.allowed_ips.size(); ++i) {
    if (i) w.allowed_ips += ',';
    w.allowed_ips += p.allowed_ips[i].to_string();
  }
  if (p.last_handshake)
    w.last_handshake_unix_secs = std::chrono::duration_cast<std::chrono::seconds>(
                                     p.last_handshake->time_since_epoch())
                                     .count();
  return w;
}

class supervisor_impl : public traced<supervisor_actor::base> {
 public:
  supervisor_impl(caf::actor_config& cfg, observability* obs, supervisor_config sc)
      : traced(cfg, obs, "supervisor"), obs_(obs), cfg_(std::move(sc)) {
    set_down_handler([this](caf::down_msg& dm) { on_child_down(dm); });
  }

  behavior_type make_behavior() override {
    return {
        [this](init_atom, gateway_actor gw) -> bool {
          gateway_ = gw;
          open_host();
          allocator_ = spawn_allocator(system(), obs_, state_.node_slice);
          dns_ = spawn_dns(system(), obs_, cfg_.dns, dns_store_);
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
    // Children do not outlive the supervisor; nor does anything we made.
    stopping_ = true;
    revert_host_state();
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
            [this](const ipc::req::status&) -> ipc::response { return status_snapshot(); },
            [this](const ipc::req::setup_global_overlay& m) { return setup_global(m); },
            [this](const ipc::req::teardown_global_overlay&) -> ipc::response {
              teardown_global();
              return ipc::resp::ok{};
            },
            [this](const ipc::req::add_peer& m) { return add_peer(m); },
            [this](const ipc::req::remove_peer& m) { return remove_peer(m); },
            [this](const ipc::req::add_allowed_ip& m) {
              return allowed_ip(m.pubkey, m.cidr, m.scope, true);
            },
            [this](const ipc::req::remove_allowed_ip& m) {
              return allowed_ip(m.pubkey, m.cidr, m.scope, false);
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

  // ---- host mechanics ------------------------------------------------------

  void open_host() {
    host::mutator_config mc;
    mc.data_dir = cfg_.data_dir;
    mc.firewall.table = cfg_.firewall_table;
    auto m = host::mutator::open(mc);
    if (!m) {
      host_error_ = m.err().message;
      spdlog::warn("host mechanics unavailable ({}); overlay setup will fail", host_error_);
      return;
    }
    host_.emplace(std::move(m).value());
    if (size_t n = host_->leftover_changes()) {
      spdlog::warn("found {} host changes journaled by a previous run that did not tear down; "
                   "reverting them",
                   n);
      if (auto r = host_->recover(host::recovery_mode::revert); !r)
        spdlog::warn("recovery left something behind: {}", r.err().message);
    }
  }

  // Reverse order of setup: the device first, then every journaled change.
  void revert_host_state() {
    teardown_global();
  }

  // ---- global overlay ------------------------------------------------------

  ipc::response setup_global(const ipc::req::setup_global_overlay& m) {
    // Validated at the edge: these parse.
    const net::cidr cluster = *net::cidr::parse(m.cluster_cidr);
    state_.deployment = m.deployment;
    state_.instance_id = m.instance_id;
    state_.overlay_port = m.wg_port;
    state_.cluster = cluster;
    if (m.slice_cidr) {
      state_.slice = *net::cidr::parse(*m.slice_cidr);
      if (state_.slice->normalized() != state_.node_slice.normalized()) {
        state_.node_slice = *state_.slice;
        // Fire and forget: its enqueue precedes our reply, hence any later request.
        caf::anon_send(allocator_, configure_atom::value, correlation_id{0}, slice_config{state_.node_slice});
      }
    }
    if (m.nat) {
      state_.nat = m.nat;
      state_.relay_credential =
          m.nat->relay_server ? m.nat->relay_server->auth_credential : std::nullopt;
    }
    if (global_) return ipc::resp::bridge_name{global_->interface()};  // idempotent
    if (!host_) return engine_error("Failed to create global overlay: host mechanics unavailable: " + host_error_);

    overlay::global_spec spec;
    spec.deployment = m.deployment;
    spec.instance_id = m.instance_id;
    spec.cluster = cluster;
    spec.node_ip = net::ip_allocator(state_.node_slice).node_ip();
    spec.wg_port = m.wg_port;
    spec.uapi_dir = cfg_.uapi_dir;
    spec.rootless = std::getenv("ZLAYER_ROOTLESS") != nullptr;
    // On Linux the host adapter is the container data path: a failure is
    // fatal whatever host_adapter_mandatory says (seed).
    auto g = overlay::global_overlay::bring_up(spec, *host_);
    if (!g) return engine_error(g.err().message);
    global_ = std::move(g).value();
    dns_listen(true);
    // Peers the agent sent before the device existed.
    for (auto& [key, p] : state_.global_peers) {
      auto pc = overlay::parse_peer(p.public_key, p.endpoint, p.allowed_ips, p.persistent_keepalive_secs);
      if (pc) (void)global_->upsert_peer(*pc);
    }
    spdlog::info("global overlay {} up: node IP {}, cluster {}, port {}", global_->interface(),
                 global_->node_ip().to_string(), cluster.to_string(), global_->device().listen_port());
    return ipc::resp::bridge_name{global_->interface()};
  }

  // Overlay DNS answers on <node_ip>:53 while the global overlay is up.
  void dns_listen(bool on) {
    if (dns_ && global_)
      caf::anon_send(dns_, dns_listen_atom::value, correlation_id{0},
                     net::endpoint(global_->node_ip(), 53), on);
  }

  void teardown_global() {
    if (global_) spdlog::info("shutting down global overlay {}", global_->interface());
    dns_listen(false);
    global_.reset();
    if (host_) {
      if (auto r = host_->revert_all(); !r) spdlog::warn("teardown: {}", r.err().message);
    }
  }

  ipc::response status_snapshot() {
    ipc::status_snapshot s;
    if (global_) {
      s.interface = global_->interface();
      s.node_ip = global_->node_ip();
      s.public_key = global_->public_key_base64();
      for (auto& p : global_->device().current_status().peers) s.peers.push_back(to_wire(p));
    }
    if (state_.cluster) s.overlay_cidr = state_.cluster->to_string();
    if (state_.slice) s.slice_cidr = state_.slice->to_string();
    s.peer_count = static_cast<uint32_t>(s.peers.size());
    return ipc::resp::status{std::move(s)};
  }

  // ---- peers (scope global; service scope lands with dedicated devices) ----

  ipc::response add_peer(const ipc::req::add_peer& m) {
    if (m.scope.service) return ipc::resp::err{"no dedicated overlay for service " + *m.scope.service};
    const auto& p = m.peer;
    if (global_) {
      auto pc = overlay::parse_peer(p.public_key, p.endpoint, p.allowed_ips, p.persistent_keepalive_secs);
      if (!pc) return ipc::resp::err{pc.err().message};
      if (auto r = global_->upsert_peer(*pc); !r) return engine_error("add_peer failed: " + r.err().message);
    } else {
      // Seed: no host transport yet → record, install when the device exists.
      spdlog::warn("global overlay not set up; recording peer {} for later", p.public_key);
    }
    state_.global_peers[p.public_key] = p;
    return ipc::resp::ok{};
  }

  ipc::response remove_peer(const ipc::req::remove_peer& m) {
    if (m.scope.service) return ipc::resp::err{"no dedicated overlay for service " + *m.scope.service};
    if (global_) {
      auto k = crypto::public_key_from_base64(m.pubkey);
      if (!k) return ipc::resp::err{"invalid public key " + m.pubkey};
      if (auto r = global_->remove_peer(*k); !r) return engine_error("remove_peer failed: " + r.err().message);
    }
    state_.global_peers.erase(m.pubkey);
    return ipc::resp::ok{};
  }

  ipc::response allowed_ip(const std::string& pubkey, const std::string& cidr,
                           const ipc::peer_scope& scope, bool add) {
    if (scope.service) return ipc::resp::err{"no dedicated overlay for service " + *scope.service};
    if (!global_) return ipc::resp::ok{};  // seed: nothing to plumb into yet
    auto k = crypto::public_key_from_base64(pubkey);
    if (!k) return ipc::resp::err{"invalid public key " + pubkey};
    auto c = net::cidr::parse(cidr);
    if (!c) return ipc::resp::err{"invalid CIDR " + cidr + ": " + c.err().message};
    auto r = add ? global_->add_allowed_ip(*k, *c) : global_->remove_allowed_ip(*k, *c);
    if (!r) return engine_error(std::string(add ? "add" : "remove") + "_allowed_ip failed: " + r.err().message);
    return ipc::resp::ok{};
  }

  void on_child_down(const caf::down_msg& dm) {
    if (stopping_) return;
    if (allocator_ && dm.source == allocator_.address()) {
      spdlog::warn("allocator exited ({}); restarting it", to_string(dm.reason));
      allocator_ = spawn_allocator(system(), obs_, state_.node_slice);
      monitor(allocator_);
    } else if (dns_ && dm.source == dns_.address()) {
      spdlog::warn("dns actor exited ({}); restarting it", to_string(dm.reason));
      dns_ = spawn_dns(system(), obs_, cfg_.dns, dns_store_);
      monitor(dns_);
      if (global_) dns_listen(true);
    } else {
      return;
    }
    if (gateway_) send(gateway_, routes_atom::value, allocator_, dns_);
  }

  observability* obs_;
  supervisor_config cfg_;
  engine_state state_;
  std::optional<host::mutator> host_;
  std::string host_error_;
  std::unique_ptr<overlay::global_overlay> global_;
  // Shared with every incarnation of the dns actor: records survive a restart.
  std::shared_ptr<net::dns::record_store> dns_store_ = std::make_shared<net::dns::record_store>();
  gateway_actor gateway_;
  allocator_actor allocator_;
  dns_actor dns_;
  bool stopping_ = false;
};
}  // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs,
                                  supervisor_config cfg) {
  return sys.spawn<supervisor_impl, caf::detached>(obs, std::move(cfg));
}

}  // namespace overlayd::actors
