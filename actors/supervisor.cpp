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
#include "actors/nat_orchestrator.hpp"
#include "actors/traced.hpp"
#include "net/dns/record_store.hpp"
#include "net/host/mutator.hpp"
#include "net/ipam.hpp"
#include "net/names.hpp"
#include "net/netlink/link.hpp"
#include "net/overlay/global_overlay.hpp"
#include "net/overlay/plumbing.hpp"

#include <caf/scoped_actor.hpp>
#include <set>

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
  std::optional<bool> legacy_nat_enabled;  // setup_global_overlay.nat_enabled
  std::optional<std::string> relay_credential;
  // Global peers as the agent sent them (a guest attach reproduces them).
  std::map<std::string, ipc::peer_spec> global_peers;
};

// The registry key of the node-wide shared bridge: can never be a service name.
constexpr const char* shared_bridge_key = "__zlayer_shared_bridge__";

struct service_bridge {
  std::string name;
  net::cidr subnet;
  net::ip_address gateway;
};

// One linux_pid attachment (the seed's AttachInfo).
struct attach_info {
  net::ip_address service_ip;
  std::string service;
  std::optional<net::ip_address> global_ip;
  bool ephemeral = false;
  std::optional<std::string> isolation_network;
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
          nat_ = spawn_nat_orchestrator(system(), obs_);
          monitor(allocator_);
          monitor(dns_);
          monitor(nat_);
          send(gateway_, routes_atom::value, allocator_, dns_, nat_);
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
    if (nat_) anon_send_exit(nat_, caf::exit_reason::user_shutdown);
    allocator_ = nullptr;
    dns_ = nullptr;
    nat_ = nullptr;
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
            [this](const ipc::req::setup_service_overlay& m) { return setup_service(m); },
            [this](const ipc::req::teardown_service_overlay& m) -> ipc::response {
              teardown_service(m.service);
              return ipc::resp::ok{};
            },
            [this](const ipc::req::attach_container& m) { return attach(m); },
            [this](const ipc::req::detach_container& m) { return detach(m); },
            [this](const ipc::req::remove_peer& m) { return remove_peer(m); },
            [this](const ipc::req::add_allowed_ip& m) {
              return allowed_ip(m.pubkey, m.cidr, m.scope, true);
            },
            [this](const ipc::req::remove_allowed_ip& m) {
              return allowed_ip(m.pubkey, m.cidr, m.scope, false);
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
        ask(pool::set_slice{state_.node_slice});
      }
    }
    state_.legacy_nat_enabled = m.nat_enabled;
    if (m.nat) {
      state_.nat = m.nat;
      state_.relay_credential =
          m.nat->relay_server ? m.nat->relay_server->auth_credential : std::nullopt;
    }
    if (global_) {  // idempotent; a new NAT config still reaches the orchestrator
      nat_setup_send();
      return ipc::resp::bridge_name{global_->interface()};
    }
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
    nat_link_ = std::make_shared<nat_device_link>();
    nat_link_->device = &global_->device();
    nat_setup_send();
    dns_listen(true);
    // Service subnets are carved from the cluster CIDR, never over the node IP.
    if (auto r = ask(pool::set_cluster{cluster, spec.node_ip}); r.failure)
      spdlog::warn("service subnet registry: {}", r.failure->message);
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

  // The orchestrator learns the overlay (config, port, device link) or, with
  // no device, that it is gone.
  void nat_setup_send() {
    if (!nat_) return;
    nat_setup s;
    s.up = global_ && nat_link_;
    if (s.up) {
      s.nat = state_.nat;
      s.legacy_nat_enabled = state_.legacy_nat_enabled;
      s.listen_port = global_->device().listen_port();
      s.link = nat_link_;
    }
    caf::anon_send(nat_, nat_setup_atom::value, std::move(s));
  }

  void nat_peer_send(const std::string& key, const std::vector<ipc::nat_candidate_wire>& cs) {
    if (nat_) caf::anon_send(nat_, nat_peer_atom::value, nat_peer_update{key, cs});
  }

  void teardown_global() {
    if (global_) spdlog::info("shutting down global overlay {}", global_->interface());
    dns_listen(false);
    // The orchestrator must not touch the device once it is gone.
    if (nat_link_) {
      std::lock_guard lock(nat_link_->mu);
      nat_link_->device = nullptr;
    }
    nat_link_.reset();
    if (global_) nat_setup_send();
    // Attachments and bridges first (their links are journaled and reverted
    // below anyway); then the device; then every other host change.
    attached_.clear();
    network_members_.clear();
    for (auto& [svc, b] : service_bridges_) ask(pool::close{b.name});
    service_bridges_.clear();
    if (shared_bridge_) ask(pool::close{shared_bridge_->name});
    shared_bridge_.reset();
    service_modes_.clear();
    global_.reset();
    if (host_) {
      if (auto r = host_->revert_all(); !r) spdlog::warn("teardown: {}", r.err().message);
    }
  }

  ipc::response status_snapshot() {
    ipc::status_snapshot s;
    s.service_count = static_cast<uint32_t>(service_modes_.size());
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

  // ---- allocator (synchronous from here: the supervisor is detached) -------

  pool_reply ask(pool_request r) {
    caf::scoped_actor self{system()};
    pool_reply out;
    out.failure = error(errc::internal, "allocator did not answer");
    self->request(allocator_, std::chrono::seconds(10), pools_atom::value, correlation_id{0}, std::move(r))
        .receive([&](correlation_id, pool_reply& rep) { out = std::move(rep); },
                 [&](caf::error& e) { out.failure = error(errc::internal, "allocator: " + caf::to_string(e)); });
    return out;
  }

  std::string node_key() const { return std::to_string(state_.local_node_id); }

  // ---- service overlays (auto, shared, isolated; seed semantics) -----------

  ipc::response setup_service(const ipc::req::setup_service_overlay& m) {
    if (ipc::uses_per_service_wg(m.mode))
      return ipc::resp::err{"setup_service_overlay in dedicated mode is not implemented yet"};
    if (!state_.cluster || !global_)
      return ipc::resp::err{"service subnet registry needs a cluster CIDR (SetupGlobalOverlay first)"};
    service_modes_[m.service] = m.mode;
    if (ipc::uses_shared_bridge(m.mode)) {
      auto name = ensure_shared_bridge();
      if (!name) return engine_error(name.err().message);
      ask(pool::bind{m.service, *name});
      return ipc::resp::service_overlay{{*name, ipc::overlay_mode::shared}};
    }
    // auto and isolated: a per-service bridge (isolation is fenced at attach).
    if (auto it = service_bridges_.find(m.service); it != service_bridges_.end())
      return ipc::resp::service_overlay{{it->second.name, ipc::overlay_mode::auto_}};
    auto sub = ask(pool::assign_subnet{m.service, node_key()});
    if (sub.failure)
      return engine_error("ServiceSubnetRegistry::assign(" + m.service + ", " + node_key() +
                          ") failed: " + sub.failure->message);
    const std::string name =
        net::make_interface_name({state_.deployment, state_.instance_id, m.service}, "b");
    auto b = make_bridge(name, *sub.subnet);
    if (!b) {
      ask(pool::release_subnet{m.service, node_key()});
      return engine_error(b.err().message);
    }
    service_bridges_[m.service] = *b;
    ask(pool::bind{m.service, name});
    // The cluster device carries this service's cross-node traffic: plumb the
    // subnet into the local key's AllowedIPs when the agent told us our key.
    if (state_.local_wg_pubkey) {
      if (auto k = crypto::public_key_from_base64(*state_.local_wg_pubkey); k)
        if (auto r = global_->add_allowed_ip(*k, *sub.subnet); !r)
          spdlog::debug("service {}: cluster AllowedIPs not updated: {}", m.service, r.err().message);
    }
    spdlog::info("service {}: bridge {} subnet {}", m.service, name, sub.subnet->to_string());
    return ipc::resp::service_overlay{{name, ipc::overlay_mode::auto_}};
  }

  result<service_bridge> make_bridge(const std::string& name, const net::cidr& subnet) {
    service_bridge b{name, subnet.normalized(), subnet.normalized().network().plus(1)};
    if (auto r = overlay::create_bridge(*host_, name, net::cidr(b.gateway, subnet.prefix_len())); !r)
      return error(r.err().code, "create_bridge(" + name + ") failed: " + r.err().message);
    ask(pool::open{name, b.subnet});
    return b;
  }

  result<std::string> ensure_shared_bridge() {
    if (shared_bridge_) return shared_bridge_->name;
    auto sub = ask(pool::assign_subnet{shared_bridge_key, node_key()});
    if (sub.failure) return *sub.failure;
    const std::string name =
        net::make_interface_name({state_.deployment, state_.instance_id, "shared"}, "sh");
    auto b = make_bridge(name, *sub.subnet);
    if (!b) {
      ask(pool::release_subnet{shared_bridge_key, node_key()});
      return std::move(b).err();
    }
    shared_bridge_ = *b;
    return name;
  }

  void teardown_service(const std::string& service) {
    const auto mode = service_modes_.count(service) ? service_modes_[service] : ipc::overlay_mode::auto_;
    service_modes_.erase(service);
    ask(pool::unbind{service});
    if (ipc::uses_shared_bridge(mode)) return;  // the shared bridge lives until global teardown
    auto it = service_bridges_.find(service);
    // By its deterministic name even when nothing is in memory (seed).
    const std::string name = it != service_bridges_.end()
                                 ? it->second.name
                                 : net::make_interface_name({state_.deployment, state_.instance_id, service}, "b");
    if (it != service_bridges_.end() && global_ && state_.local_wg_pubkey) {
      if (auto k = crypto::public_key_from_base64(*state_.local_wg_pubkey); k)
        (void)global_->remove_allowed_ip(*k, it->second.subnet);
    }
    if (host_) {
      if (auto d = host_->delete_link(name); !d) spdlog::warn("delete bridge {}: {}", name, d.err().message);
    }
    ask(pool::close{name});
    ask(pool::release_subnet{service, node_key()});
    if (it != service_bridges_.end()) service_bridges_.erase(it);
  }

  // ---- container attach ------------------------------------------------------

  ipc::response attach(const ipc::req::attach_container& m) {
    if (m.dns_server) dns_server_ = m.dns_server;
    if (m.dns_domain) {
      dns_domain_ = m.dns_domain;
      // The domain an attach carries replaces --dns-domain (seed keeps it).
      if (dns_) caf::anon_send(dns_, dns_domain_atom::value, correlation_id{0}, *m.dns_domain);
    }
    return std::visit(
        overloaded{
            [&](const ipc::linux_pid& h) -> ipc::response { return attach_linux(h.pid, m); },
            [&](const ipc::windows_container&) -> ipc::response {
              return ipc::resp::err{"windows_container attach is not supported on Linux"};
            },
            [&](const auto&) -> ipc::response {
              return ipc::resp::err{std::string("attach_container for ") +
                                    (std::holds_alternative<ipc::host_shared>(m.handle) ? "host_shared" : "guest_managed") +
                                    " handles is not implemented yet"};
            },
        },
        m.handle);
  }

  ipc::response attach_linux(uint32_t pid, const ipc::req::attach_container& m) {
    if (!host_) return engine_error("host mechanics unavailable: " + host_error_);
    const bool shared = ipc::uses_shared_bridge(service_modes_.count(m.service) ? service_modes_[m.service] : ipc::overlay_mode::auto_);
    const service_bridge* bridge = nullptr;
    if (shared) {
      if (!shared_bridge_)
        return ipc::resp::err{"no shared bridge for Shared-mode service " + m.service + "; call setup_service_overlay() first"};
      bridge = &*shared_bridge_;
    } else {
      auto it = service_bridges_.find(m.service);
      if (it == service_bridges_.end())
        return ipc::resp::err{"no service bridge for service " + m.service + "; call setup_service_overlay() first"};
      bridge = &it->second;
    }
    // The service is bound to its bridge's pool (setup_service did it).
    auto ip = ask(pool::allocate{m.service});
    if (ip.failure) return engine_error(ip.failure->message);
    overlay::veth_attach va;
    va.pid = pid;
    va.ip = *ip.ip;
    va.prefix = bridge->subnet.prefix_len();
    va.tag = "s";
    va.container_iface = "eth0";
    va.bridge = bridge->name;
    va.gateway = bridge->gateway;
    if (auto r = overlay::attach_veth(*host_, va); !r) {
      ask(pool::release{*ip.ip});
      return engine_error(r.err().message);
    }
    attach_info info{*ip.ip, m.service, std::nullopt, m.ephemeral, m.isolation_network};
    if (m.join_global && global_) {
      auto g = ask(pool::allocate_slice{});
      if (g.failure) {
        rollback_attach(pid, info);
        return engine_error(g.failure->message);
      }
      overlay::veth_attach ga;
      ga.pid = pid;
      ga.ip = *g.ip;
      ga.prefix = g.ip->is_v4() ? 24 : 64;  // seed: no bridge → /24 or /64
      ga.tag = "g";
      ga.container_iface = "eth1";
      ga.route_src = global_->node_ip();
      if (auto r = overlay::attach_veth(*host_, ga); !r) {
        ask(pool::release{*g.ip});
        rollback_attach(pid, info);
        return engine_error(r.err().message);
      }
      info.global_ip = *g.ip;
    }
    if (m.isolation_network) {
      if (auto r = host_->ensure_member_isolation(*m.isolation_network, *ip.ip, global_ ? global_->node_ip() : bridge->gateway,
                                                  state_.cluster.value_or(*net::cidr::parse("10.200.0.0/16")));
          !r)
        spdlog::warn("isolation {} for {}: {} (non-fatal)", *m.isolation_network, ip.ip->to_string(), r.err().message);
      network_members_[*m.isolation_network].insert(*ip.ip);
    }
    attached_[pid] = info;
    return ipc::resp::attached{{*ip.ip, std::nullopt}};
  }

  void rollback_attach(uint32_t pid, const attach_info& info) {
    overlay::detach_veths(*host_, pid);
    ask(pool::release{info.service_ip});
  }

  ipc::response detach(const ipc::req::detach_container& m) {
    if (auto* h = std::get_if<ipc::linux_pid>(&m.handle)) return detach_linux(h->pid);
    if (std::holds_alternative<ipc::guest_managed>(m.handle)) return ipc::resp::ok{};  // unknown id: ok (seed)
    if (std::holds_alternative<ipc::windows_container>(m.handle))
      return ipc::resp::err{"windows_container detach is not supported on Linux"};
    return ipc::resp::err{"detach_container for host_shared handles is not implemented yet"};
  }

  ipc::response detach_linux(uint32_t pid) {
    // By name even without a record (a restarted daemon), idempotent.
    if (host_) overlay::detach_veths(*host_, pid);
    auto it = attached_.find(pid);
    if (it == attached_.end()) return ipc::resp::ok{};
    attach_info info = it->second;
    attached_.erase(it);
    ask(pool::release{info.service_ip});
    if (info.global_ip) ask(pool::release{*info.global_ip});
    if (info.isolation_network && host_) {
      (void)host_->remove_member_isolation(*info.isolation_network, info.service_ip);
      auto& members = network_members_[*info.isolation_network];
      members.erase(info.service_ip);
      if (members.empty()) network_members_.erase(*info.isolation_network);
    }
    // Ephemeral: the last leaver takes the service bridge down.
    if (info.ephemeral) {
      auto b = service_bridges_.find(info.service);
      if (b != service_bridges_.end() && host_) {
        auto n = netlink::bridge_member_count(host_->netlink(), b->second.name);
        if (n && *n == 0) {
          spdlog::info("ephemeral service {}: bridge idle after the last detach; tearing it down", info.service);
          teardown_service(info.service);
        }
      }
    }
    return ipc::resp::ok{};
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
    nat_peer_send(p.public_key, p.candidates);
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
    nat_peer_send(m.pubkey, {});
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
    } else if (nat_ && dm.source == nat_.address()) {
      spdlog::warn("nat_orchestrator exited ({}); restarting it", to_string(dm.reason));
      nat_ = spawn_nat_orchestrator(system(), obs_);
      monitor(nat_);
      nat_setup_send();
      for (const auto& [k, p] : state_.global_peers)
        if (!p.candidates.empty()) nat_peer_send(k, p.candidates);
    } else {
      return;
    }
    if (gateway_) send(gateway_, routes_atom::value, allocator_, dns_, nat_);
  }

  observability* obs_;
  supervisor_config cfg_;
  engine_state state_;
  std::optional<host::mutator> host_;
  std::string host_error_;
  std::unique_ptr<overlay::global_overlay> global_;
  std::map<std::string, ipc::overlay_mode> service_modes_;
  std::map<std::string, service_bridge> service_bridges_;
  std::optional<service_bridge> shared_bridge_;
  std::map<uint32_t, attach_info> attached_;
  std::map<std::string, std::set<net::ip_address>> network_members_;
  std::optional<net::ip_address> dns_server_;
  std::optional<std::string> dns_domain_;
  // Shared with every incarnation of the dns actor: records survive a restart.
  std::shared_ptr<net::dns::record_store> dns_store_ = std::make_shared<net::dns::record_store>();
  gateway_actor gateway_;
  allocator_actor allocator_;
  dns_actor dns_;
  nat_orchestrator_actor nat_;
  std::shared_ptr<nat_device_link> nat_link_;  // while global_ exists
  bool stopping_ = false;
};
}  // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs,
                                  supervisor_config cfg) {
  return sys.spawn<supervisor_impl, caf::detached>(obs, std::move(cfg));
}

}  // namespace overlayd::actors
