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
#include "net/host/sweep.hpp"
#include "net/host/mutator.hpp"
#include "net/ipam.hpp"
#include "net/names.hpp"
#include "net/netlink/link.hpp"
#include "ipc/marker.hpp"
#include "net/overlay/dedicated.hpp"
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

// Contract: DEFAULT_WG_PORT; the dedicated band sits above the global port.
constexpr uint16_t default_wg_port = 51420;

ipc::service_overlay_info dedicated_overlay_info(const std::string& name,
                                                 const overlay::dedicated_overlay& d) {
  ipc::service_overlay_info i;
  i.name = name;
  i.mode = ipc::overlay_mode::dedicated;
  i.wg_public_key = d.public_key_base64();
  i.wg_port = d.port();
  i.overlay_ip = d.overlay_ip();
  i.subnet = d.subnet().to_string();
  return i;
}

// One guest_managed attachment (the seed's GuestAttachInfo).
struct guest_info {
  net::ip_address overlay_ip;
  std::string public_key;
  std::optional<std::string> dedicated_service;  // peer lives on that device, else global
  std::optional<std::string> isolation_network;
};

// One host_shared attachment: a /32 (/128) alias on the global device.
struct host_shared_info {
  net::ip_address ip;
  std::string service;
  std::optional<std::string> isolation_network;
};

// Bounds on the user-growable attachment maps.
constexpr size_t max_guest_attachments = 4096;
constexpr size_t max_host_shared_attachments = 4096;

net::cidr host_cidr(const net::ip_address& ip) { return net::cidr(ip, ip.is_v4() ? 32 : 128); }

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
            [this](const ipc::req::prune_orphan_bridges& m) -> ipc::response {
              return ipc::resp::pruned_bridges{prune_orphan_bridges(m.live_bridge_names)};
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
    sweep_veths();
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
    guest_attachments_.clear();
    host_shared_.clear();
    network_members_.clear();
    // Dedicated devices go; their marker entries stay (identity for the next run).
    for (auto& [svc, d] : dedicated_) ask(pool::release_port{d->port()});
    dedicated_.clear();
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
    for (auto& [svc, d] : dedicated_) {
      ipc::dedicated_service_status ds;
      ds.service = svc;
      ds.interface = d->interface();
      ds.public_key = d->public_key_base64();
      ds.listen_port = d->port();
      ds.overlay_ip = d->overlay_ip();
      ds.subnet = d->subnet().to_string();
      ds.peer_count = static_cast<uint32_t>(d->device().current_status().peers.size());
      s.dedicated_services.push_back(std::move(ds));
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
    if (!state_.cluster || !global_)
      return ipc::resp::err{"service subnet registry needs a cluster CIDR (SetupGlobalOverlay first)"};
    // The mode is recorded before any host work (seed): attach uses it.
    service_modes_[m.service] = m.mode;
    if (ipc::uses_per_service_wg(m.mode)) return setup_dedicated(m.service);
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

  // ---- dedicated per-service overlays (seed: setup_service_overlay_dedicated) --

  uint16_t port_base() const { return state_.overlay_port ? state_.overlay_port : default_wg_port; }

  ipc::response setup_dedicated(const std::string& svc) {
    // 1. Idempotent: an existing dedicated transport returns its identity.
    if (auto it = dedicated_.find(svc); it != dedicated_.end()) {
      auto b = service_bridges_.find(svc);
      return ipc::resp::service_overlay{
          dedicated_overlay_info(b != service_bridges_.end() ? b->second.name : it->second->interface(), *it->second)};
    }
    // 2. Identity: reused from the marker when complete, else minted.
    const std::string marker_path = ipc::network_marker::path_in(cfg_.data_dir);
    std::string warning;
    auto marker = ipc::network_marker::load(marker_path, &warning);
    if (!warning.empty()) spdlog::warn("{}", warning);
    const std::string owner = ipc::network_marker::owner_for_service(svc);
    overlay::dedicated_spec spec;
    spec.uapi_dir = cfg_.uapi_dir;
    std::optional<uint16_t> port;
    const auto* rec = marker.get(owner);
    if (rec && rec->wg_private_key && rec->wg_public_key && rec->wg_port && rec->interface) {
      if (auto k = crypto::private_key_from_base64(*rec->wg_private_key); k) {
        spec.private_key = crypto::private_key(k->span());
        port = *rec->wg_port;
        spec.interface = *rec->interface;
        ask(pool::reserve_port{port_base(), *port});
      } else {
        spdlog::warn("service {}: marker key unreadable ({}); minting a new identity", svc, k.err().message);
      }
    }
    if (!port) {
      // Ports other services recorded in the marker stay theirs (a restarted
      // daemon re-binds them when those services come back).
      for (const auto& n : marker.networks())
        if (n.owner != owner && n.wg_port) ask(pool::reserve_port{port_base(), *n.wg_port});
      auto p = ask(pool::allocate_port{port_base()});
      if (p.failure) return engine_error(p.failure->message);
      port = *p.port;
      spec.private_key = crypto::generate_private_key();
      spec.interface = net::make_interface_name({state_.deployment, state_.instance_id, svc}, "d");
    }
    spec.port = *port;
    // 3. Subnet from the same registry the other modes use.
    auto sub = ask(pool::assign_subnet{svc, node_key()});
    if (sub.failure) {
      ask(pool::release_port{*port});
      return engine_error("ServiceSubnetRegistry::assign(" + svc + ", " + node_key() +
                          ") failed: " + sub.failure->message);
    }
    spec.subnet = *sub.subnet;
    spec.overlay_ip = sub.subnet->normalized().network().plus(1);  // first usable
    // 4. The device.
    auto d = overlay::dedicated_overlay::bring_up(spec, *host_);
    if (!d) {
      ask(pool::release_port{*port});
      ask(pool::release_subnet{svc, node_key()});
      return engine_error("Failed to create dedicated overlay for " + svc + ": " + d.err().message);
    }
    auto dev = std::move(d).value();
    // 5. Persist the identity (a failure leaves the device live: seed).
    marker.upsert({owner, "wg-dedicated", dev->interface(), dev->public_key_base64(),
                   dev->subnet().to_string(), dev->port(),
                   crypto::key_to_base64(spec.private_key.span()), dev->public_key_base64(),
                   dev->interface()});
    if (auto r = marker.save(marker_path); !r)
      spdlog::warn("service {}: failed to persist dedicated-overlay marker (device still live): {}", svc,
                   r.err().message);
    // 6. The per-service bridge, routed over the dedicated device (see
    // net/overlay/dedicated.hpp for how the subnet is routed).
    const std::string name = net::make_interface_name({state_.deployment, state_.instance_id, svc}, "b");
    auto b = make_bridge(name, *sub.subnet);
    if (!b) {
      ask(pool::release_port{*port});
      ask(pool::release_subnet{svc, node_key()});
      return engine_error(b.err().message);
    }
    service_bridges_[svc] = *b;
    ask(pool::bind{svc, name});
    if (state_.local_wg_pubkey) {
      if (auto k = crypto::public_key_from_base64(*state_.local_wg_pubkey); k)
        if (auto r = dev->add_allowed_ip(*k, *sub.subnet); !r)
          spdlog::debug("service {}: dedicated AllowedIPs not updated (non-fatal): {}", svc, r.err().message);
    }
    spdlog::info("service {}: dedicated device {} port {} subnet {} overlay IP {}", svc, dev->interface(),
                 dev->port(), dev->subnet().to_string(), dev->overlay_ip().to_string());
    auto info = dedicated_overlay_info(name, *dev);
    dedicated_[svc] = std::move(dev);
    return ipc::resp::service_overlay{std::move(info)};
  }

  // The dedicated device of `svc`: shut it, free its port, forget its identity.
  void teardown_dedicated(const std::string& svc) {
    auto it = dedicated_.find(svc);
    if (it != dedicated_.end()) {
      ask(pool::release_port{it->second->port()});
      dedicated_.erase(it);
    }
    const std::string marker_path = ipc::network_marker::path_in(cfg_.data_dir);
    std::string warning;
    auto marker = ipc::network_marker::load(marker_path, &warning);
    if (marker.remove(ipc::network_marker::owner_for_service(svc)))
      if (auto r = marker.save(marker_path); !r)
        spdlog::warn("service {}: marker entry not removed: {}", svc, r.err().message);
  }

  overlay::dedicated_overlay* dedicated_for(const std::string& svc) {
    auto it = dedicated_.find(svc);
    return it == dedicated_.end() ? nullptr : it->second.get();
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
    teardown_dedicated(service);
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
            [&](const ipc::guest_managed& h) -> ipc::response { return attach_guest(h.id, m); },
            [&](const ipc::host_shared& h) -> ipc::response { return attach_host_shared(h.id, m); },
        },
        m.handle);
  }

  // veth-<pid>-* links of dead containers (a crashed runtime, a previous
  // daemon): swept at start-up and before a linux_pid attach, at most every
  // veth_sweep_interval (listing every link on each attach is what the seed
  // does; a busy node attaches far more often than containers die unseen).
  static constexpr auto veth_sweep_interval = std::chrono::seconds(10);
  void sweep_veths() {
    if (!host_) return;
    const auto now = std::chrono::steady_clock::now();
    if (last_veth_sweep_ && now - *last_veth_sweep_ < veth_sweep_interval) return;
    last_veth_sweep_ = now;
    auto r = host::sweep_orphan_veths(host_->netlink());
    if (!r) spdlog::warn("orphan veth sweep: {}", r.err().message);
    else if (!r->empty()) spdlog::info("orphan veth sweep removed {} link(s)", r->size());
  }

  // ---- prune_orphan_bridges (seed) -------------------------------------------

  std::vector<std::string> prune_orphan_bridges(const std::vector<std::string>& live_names) {
    std::vector<std::string> reclaimed;
    if (!host_) return reclaimed;
    auto links = netlink::list_links(host_->netlink());
    if (!links) {
      spdlog::warn("prune_orphan_bridges: failed to list host links: {}", links.err().message);
      return reclaimed;
    }
    const std::set<std::string, std::less<>> live(live_names.begin(), live_names.end());
    std::set<std::string, std::less<>> protected_;
    if (global_) protected_.insert(global_->interface());
    if (shared_bridge_) protected_.insert(shared_bridge_->name);
    for (auto& [svc, d] : dedicated_) protected_.insert(d->interface());
    // Names the registry's assignments would have, to release their slots.
    std::map<std::string, std::tuple<std::string, std::string, net::cidr>> name_to_key;
    for (auto& [svc, node, subnet] : ask(pool::assignments{}).assignments) {
      name_to_key[net::make_interface_name({state_.deployment, state_.instance_id, svc}, "b")] = {svc, node, subnet};
      name_to_key[net::make_interface_name({state_.deployment, state_.instance_id, svc}, "d")] = {svc, node, subnet};
    }
    for (const auto& l : *links) {
      const std::string& name = l.name;
      if (!host::is_orphan_service_bridge(name, live, protected_)) continue;
      // Zero-member guard: never pull a bridge from under attached containers.
      if (auto n = netlink::bridge_member_count(host_->netlink(), name); n && *n > 0) continue;
      spdlog::info("prune_orphan_bridges: reclaiming orphan service bridge/device {}", name);
      if (auto it = name_to_key.find(name); it != name_to_key.end()) {
        auto& [svc, node, subnet] = it->second;
        if (global_ && state_.local_wg_pubkey)
          if (auto k = crypto::public_key_from_base64(*state_.local_wg_pubkey); k)
            if (auto r = global_->remove_allowed_ip(*k, subnet); !r)
              spdlog::debug("prune_orphan_bridges: remove_allowed_ip: {}", r.err().message);
        ask(pool::release_subnet{svc, node});
      }
      if (auto d = host_->delete_link(name); !d) {
        spdlog::warn("prune_orphan_bridges: delete {}: {}", name, d.err().message);
        continue;
      }
      for (auto it = service_bridges_.begin(); it != service_bridges_.end();) {
        if (it->second.name == name) {
          ask(pool::close{name});
          it = service_bridges_.erase(it);
        } else {
          ++it;
        }
      }
      reclaimed.push_back(name);
    }
    return reclaimed;
  }

  ipc::response attach_linux(uint32_t pid, const ipc::req::attach_container& m) {
    if (!host_) return engine_error("host mechanics unavailable: " + host_error_);
    sweep_veths();
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
    if (auto* g = std::get_if<ipc::guest_managed>(&m.handle)) return detach_guest(g->id);
    if (auto* h = std::get_if<ipc::host_shared>(&m.handle)) return detach_host_shared(h->id);
    return ipc::resp::err{"windows_container detach is not supported on Linux"};
  }

  void join_isolation(const std::string& network, const net::ip_address& ip) {
    if (auto r = host_->ensure_member_isolation(network, ip, global_->node_ip(), global_->cluster()); !r)
      spdlog::warn("isolation {} for {}: {} (non-fatal)", network, ip.to_string(), r.err().message);
    network_members_[network].insert(ip);
  }

  void leave_isolation(const std::string& network, const net::ip_address& ip) {
    if (host_) (void)host_->remove_member_isolation(network, ip);
    auto it = network_members_.find(network);
    if (it == network_members_.end()) return;
    it->second.erase(ip);
    if (it->second.empty()) network_members_.erase(it);
  }

  // ---- guest_managed (seed: attach_container_guest) -------------------------

  ipc::response attach_guest(const std::string& id, const ipc::req::attach_container& m) {
    // Fail before allocating anything (seed).
    if (!global_)
      return ipc::resp::err{"guest-managed attach requires the global overlay to be set up first "
                            "(no node WireGuard public key)"};
    if (auto it = guest_attachments_.find(id); it != guest_attachments_.end())
      return ipc::resp::err{"guest " + id + " is already attached (" + it->second.overlay_ip.to_string() +
                            "); detach it first"};
    if (guest_attachments_.size() >= max_guest_attachments)
      return ipc::resp::err{"too many guest attachments (limit " + std::to_string(max_guest_attachments) + ")"};
    // 1. The IP from the service's bridge pool when it has one, else the
    // node slice (allocator: allocate(service) does exactly that).
    auto ip = ask(pool::allocate{m.service});
    if (ip.failure) return engine_error(ip.failure->message);
    const net::ip_address overlay_ip = *ip.ip;
    uint8_t prefix_len = static_cast<uint8_t>(state_.node_slice.prefix_len());
    const bool shared = ipc::uses_shared_bridge(service_modes_.count(m.service) ? service_modes_[m.service] : ipc::overlay_mode::auto_);
    if (shared && shared_bridge_ && shared_bridge_->subnet.contains(overlay_ip)) {
      prefix_len = static_cast<uint8_t>(shared_bridge_->subnet.prefix_len());
    } else if (auto b = service_bridges_.find(m.service); b != service_bridges_.end() && b->second.subnet.contains(overlay_ip)) {
      prefix_len = static_cast<uint8_t>(b->second.subnet.prefix_len());
    }
    // 2. The guest's keys.
    auto sk = crypto::generate_private_key();
    const std::string guest_pub = crypto::key_to_base64(crypto::public_from_private(sk).span());
    // 3. Exactly one peer: this node (its dedicated device for a dedicated
    // service), AllowedIPs the cluster (or that service's subnet), keepalive
    // 25 to hold the guest's NAT mapping; the runtime rewrites the endpoint.
    overlay::dedicated_overlay* ded = dedicated_for(m.service);
    ipc::peer_spec node_peer;
    uint16_t listen_port = 0;
    if (ded) {
      node_peer.public_key = ded->public_key_base64();
      listen_port = ded->port();
      node_peer.allowed_ips = ded->subnet().to_string();
    } else {
      node_peer.public_key = global_->public_key_base64();
      listen_port = state_.overlay_port ? state_.overlay_port : global_->device().listen_port();
      node_peer.allowed_ips = global_->cluster().to_string();
    }
    node_peer.endpoint = net::endpoint(global_->node_ip(), listen_port).to_string();
    node_peer.persistent_keepalive_secs = 25;
    // 4. The guest's key as a peer on our device: roaming endpoint 0.0.0.0:0
    // (learned from its first keepalive), AllowedIPs its /32, and a host
    // route so the kernel hands its traffic to that device.
    ipc::peer_spec guest_peer;
    guest_peer.public_key = guest_pub;
    guest_peer.endpoint = "0.0.0.0:0";
    guest_peer.allowed_ips = host_cidr(overlay_ip).to_string();
    auto pc = overlay::parse_peer(guest_peer.public_key, guest_peer.endpoint, guest_peer.allowed_ips, 0);
    status added = pc ? (ded ? ded->upsert_peer(*pc) : global_->upsert_peer(*pc)) : status(std::move(pc).err());
    if (added && !ded) added = host_->replace_route(host_cidr(overlay_ip), global_->interface());
    if (!added) {
      if (!ded && pc) (void)global_->remove_peer(pc->key);
      ask(pool::release{overlay_ip});
      return engine_error("guest " + id + ": " + added.err().message);
    }
    state_.global_peers[guest_pub] = guest_peer;
    if (m.isolation_network) join_isolation(*m.isolation_network, overlay_ip);
    guest_attachments_[id] = guest_info{overlay_ip, guest_pub,
                                        ded ? std::optional<std::string>(m.service) : std::nullopt,
                                        m.isolation_network};
    // 5. The config the caller ships into the guest.
    ipc::guest_overlay_config cfg;
    cfg.overlay_ip = overlay_ip;
    cfg.prefix_len = prefix_len;
    cfg.private_key = crypto::key_to_base64(sk.span());
    cfg.public_key = guest_pub;
    cfg.listen_port = listen_port;
    cfg.peers.push_back(std::move(node_peer));
    cfg.dns_server = m.dns_server ? m.dns_server : std::optional<net::ip_address>(global_->node_ip());
    cfg.dns_domain = m.dns_domain ? m.dns_domain : dns_domain_ ? dns_domain_ : std::optional<std::string>(cfg_.dns.domain);
    return ipc::resp::guest_config{std::move(cfg)};
  }

  // Idempotent: an unknown id is ok (seed).
  ipc::response detach_guest(const std::string& id) {
    auto it = guest_attachments_.find(id);
    if (it == guest_attachments_.end()) return ipc::resp::ok{};
    guest_info info = it->second;
    guest_attachments_.erase(it);
    state_.global_peers.erase(info.public_key);
    if (auto k = crypto::public_key_from_base64(info.public_key); k) {
      status r;
      if (info.dedicated_service) {
        if (auto* d = dedicated_for(*info.dedicated_service)) r = d->remove_peer(*k);
      } else if (global_) {
        r = global_->remove_peer(*k);
        if (host_) (void)host_->delete_route(host_cidr(info.overlay_ip), global_->interface());
      }
      if (!r) spdlog::warn("guest {}: removing its peer: {}", id, r.err().message);
    }
    if (info.isolation_network) leave_isolation(*info.isolation_network, info.overlay_ip);
    ask(pool::release{info.overlay_ip});
    return ipc::resp::ok{};
  }

  // ---- host_shared (seed: attach_container_host_shared) ----------------------

  ipc::response attach_host_shared(const std::string& id, const ipc::req::attach_container& m) {
    if (!global_)
      return ipc::resp::err{"host-shared attach requires the global overlay to be set up first "
                            "(no device to alias the container /32 on)"};
    if (auto it = host_shared_.find(id); it != host_shared_.end())
      return ipc::resp::err{"host-shared container " + id + " is already attached (" +
                            it->second.ip.to_string() + "); detach it first"};
    if (host_shared_.size() >= max_host_shared_attachments)
      return ipc::resp::err{"too many host-shared attachments (limit " +
                            std::to_string(max_host_shared_attachments) + ")"};
    auto ip = ask(pool::allocate_slice{});
    if (ip.failure) return engine_error(ip.failure->message);
    if (auto r = global_->device().add_alias(*ip.ip); !r) {
      ask(pool::release{*ip.ip});
      return engine_error(r.err().message);
    }
    if (m.isolation_network) join_isolation(*m.isolation_network, *ip.ip);
    host_shared_[id] = host_shared_info{*ip.ip, m.service, m.isolation_network};
    return ipc::resp::attached{{*ip.ip, std::nullopt}};
  }

  ipc::response detach_host_shared(const std::string& id) {
    auto it = host_shared_.find(id);
    if (it == host_shared_.end()) return ipc::resp::ok{};
    host_shared_info info = it->second;
    host_shared_.erase(it);
    if (info.isolation_network) leave_isolation(*info.isolation_network, info.ip);
    if (global_)
      if (auto r = global_->device().remove_alias(info.ip); !r)
        spdlog::warn("host-shared {}: removing alias {}: {}", id, info.ip.to_string(), r.err().message);
    ask(pool::release{info.ip});
    return ipc::resp::ok{};
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
    const auto& p = m.peer;
    if (m.scope.service) {
      auto* d = dedicated_for(*m.scope.service);
      if (!d) return ipc::resp::err{"no dedicated overlay for service " + *m.scope.service};
      auto pc = overlay::parse_peer(p.public_key, p.endpoint, p.allowed_ips, p.persistent_keepalive_secs);
      if (!pc) return ipc::resp::err{pc.err().message};
      if (auto r = d->upsert_peer(*pc); !r) return engine_error("add_peer failed: " + r.err().message);
      return ipc::resp::ok{};
    }
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
    if (m.scope.service) {
      auto* d = dedicated_for(*m.scope.service);
      if (!d) return ipc::resp::err{"no dedicated overlay for service " + *m.scope.service};
      auto k = crypto::public_key_from_base64(m.pubkey);
      if (!k) return ipc::resp::err{"invalid public key " + m.pubkey};
      if (auto r = d->remove_peer(*k); !r) return engine_error("remove_peer failed: " + r.err().message);
      return ipc::resp::ok{};
    }
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
    overlay::dedicated_overlay* d = nullptr;
    if (scope.service) {
      d = dedicated_for(*scope.service);
      if (!d) return ipc::resp::err{"no dedicated overlay for service " + *scope.service};
    } else if (!global_) {
      return ipc::resp::ok{};  // seed: nothing to plumb into yet
    }
    auto k = crypto::public_key_from_base64(pubkey);
    if (!k) return ipc::resp::err{"invalid public key " + pubkey};
    auto c = net::cidr::parse(cidr);
    if (!c) return ipc::resp::err{"invalid CIDR " + cidr + ": " + c.err().message};
    auto r = d ? (add ? d->add_allowed_ip(*k, *c) : d->remove_allowed_ip(*k, *c))
               : (add ? global_->add_allowed_ip(*k, *c) : global_->remove_allowed_ip(*k, *c));
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
  std::map<std::string, std::unique_ptr<overlay::dedicated_overlay>> dedicated_;
  std::map<uint32_t, attach_info> attached_;
  std::map<std::string, guest_info> guest_attachments_;
  std::map<std::string, host_shared_info> host_shared_;
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
  std::optional<std::chrono::steady_clock::time_point> last_veth_sweep_;
};
}  // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs,
                                  supervisor_config cfg) {
  return sys.spawn<supervisor_impl, caf::detached>(obs, std::move(cfg));
}

}  // namespace overlayd::actors
