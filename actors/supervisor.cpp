#include "actors/supervisor.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <caf/send.hpp>
#include <caf/spawn_options.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/atomic_file.hpp"
#include "net/attachment_file.hpp"

#include "actors/allocator.hpp"
#include "actors/dedicated_transport.hpp"
#include "actors/dns.hpp"
#include "actors/nat_orchestrator.hpp"
#include "actors/pool_client.hpp"
#include "actors/service_overlay.hpp"
#include "actors/traced.hpp"
#include "net/dns/record_store.hpp"
#include "net/host/sweep.hpp"
#include "net/host/mutator.hpp"
#include "net/ipam.hpp"
#include "net/names.hpp"
#include "net/netlink/link.hpp"
#include "ipc/marker.hpp"
#include "net/host/drift_watch.hpp"
#include "net/overlay/dedicated.hpp"
#include "net/overlay/global_overlay.hpp"
#include "net/overlay/plumbing.hpp"

#include <caf/after.hpp>
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

// One guest_managed attachment (the seed's GuestAttachInfo).
struct guest_info {
  net::ip_address overlay_ip;
  std::string public_key;
  std::optional<std::string> dedicated_service;  // peer lives on that device, else global
  std::optional<std::string> isolation_network;
  std::string service;
  // What the attach answered, without the private key (kept wiped-on-free
  // in `key`): a retried attach answers exactly the same.
  ipc::guest_overlay_config config;
  std::shared_ptr<const crypto::private_key> key;
};

// One host_shared attachment: a /32 (/128) alias on the global device.
struct host_shared_info {
  net::ip_address ip;
  std::string service;
  std::optional<std::string> isolation_network;
};

// A per-service child: the actor, the state that survives its crashes, and
// its view of the host mutator.
struct service_child {
  service_overlay_actor actor;
  std::shared_ptr<service_state> st;
  std::shared_ptr<host::mutator> host;
  int inflight = 0;            // requests sent, not yet answered
  bool forget_identity = false;  // on retire: also drop the dedicated marker entry
};

struct dedicated_child {
  dedicated_transport_actor actor;
  std::shared_ptr<dedicated_state> st;
  std::shared_ptr<host::mutator> host;
};

// Bound on services with a live service_overlay actor (one thread each).
constexpr size_t max_services = 1024;

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
      : traced(cfg, obs, "supervisor"),
        obs_(obs),
        cfg_(std::move(sc)),
        marker_(std::make_shared<ipc::marker_store>(
            ipc::network_marker::path_in(cfg_.data_dir),
            [obs](const std::string& path, const std::string& aside, const std::string& why) {
              obs->report_state_problem(path + " did not parse (" + why + "); moved aside to " + aside, true);
            })) {
    set_down_handler([this](caf::down_msg& dm) { on_child_down(dm); });
  }

  behavior_type make_behavior() override {
    return {
        [this](init_atom, gateway_actor gw) -> bool {
          gateway_ = gw;
          open_host();
          pool_state_ = std::make_shared<net::node_pools>(state_.node_slice);
          allocator_ = spawn_allocator(system(), obs_, pool_state_, cfg_.data_dir);
          pools_->set(allocator_);
          dns_ = spawn_dns(system(), obs_, cfg_.dns, dns_store_);
          nat_ = spawn_nat_orchestrator(system(), obs_);
          monitor(allocator_);
          monitor(dns_);
          monitor(nat_);
          send(gateway_, routes_atom::value, allocator_, dns_, nat_);
          delayed_send(this, cfg_.veth_sweep_period, sweep_atom::value);
          return true;
        },
        [this](adopt_end_atom) { end_adoption(); },
        [this](keep_atom) -> bool {
          keep_host_ = true;
          return true;
        },
        [this](sweep_atom) {
          sweep_veths();
          if (!stopping_) delayed_send(this, cfg_.veth_sweep_period, sweep_atom::value);
        },
        [this](serve_atom, correlation_id c, const ipc::request& r) -> reply { return serve(c, r); },
        [this](stop_atom, correlation_id c) -> reply {
          stopping_ = true;
          revert_host_state();
          return {c, ipc::resp::ok{}};
        },
        [this](crash_atom, correlation_id c, const std::string& child) -> reply {
          return {c, crash_child(child)};
        },
        [this](services_atom) -> std::vector<service_row> { return service_table(); },
        [this](peers_atom) -> std::vector<peer_row> { return peer_table(); },
        [this](dns_view_atom) -> dns_view {
          dns_view v;
          v.domains.push_back(cfg_.dns.domain);
          for (const auto& d : dns_domains_)
            if (d != cfg_.dns.domain) v.domains.push_back(d);
          for (const auto& e : dns_store_->snapshot()->entries()) v.records.emplace_back(e.key, e.addresses);
          return v;
        },
        [this](stall_atom, correlation_id c, const std::string& svc, std::shared_ptr<stall_gate> g) -> reply {
          auto it = services_.find(svc);
          if (it == services_.end()) return {c, ipc::resp::err{"no service_overlay actor for service " + svc}};
          return via_service(c, svc, it->second, stall_atom::value, c, std::move(g));
        },
    };
  }

  void on_exit() override {
    // Children do not outlive the supervisor; nor does anything we made.
    stopping_ = true;
    if (keep_host_) leave_host_state();
    else revert_host_state();
    if (allocator_) anon_send_exit(allocator_, caf::exit_reason::user_shutdown);
    if (dns_) anon_send_exit(dns_, caf::exit_reason::user_shutdown);
    if (nat_) anon_send_exit(nat_, caf::exit_reason::user_shutdown);
    allocator_ = nullptr;
    dns_ = nullptr;
    nat_ = nullptr;
    gateway_ = nullptr;
    pools_->set(allocator_actor{});
  }

 private:
  reply serve(correlation_id c, const ipc::request& r) {
    // Operations owned by a service's actors are forwarded (their replies
    // come back through here, see via_service); the rest are answered now.
    if (auto* m = std::get_if<ipc::req::setup_service_overlay>(&r)) return setup_service(c, *m);
    if (auto* m = std::get_if<ipc::req::teardown_service_overlay>(&r)) return teardown_service(c, m->service);
    if (auto* m = std::get_if<ipc::req::attach_container>(&r); m && std::holds_alternative<ipc::linux_pid>(m->handle))
      return attach_linux(c, *m);
    if (auto* m = std::get_if<ipc::req::detach_container>(&r); m && std::holds_alternative<ipc::linux_pid>(m->handle))
      return detach_linux(c, std::get<ipc::linux_pid>(m->handle).pid);
    if (auto svc = service_scope(r)) return via_dedicated(c, *svc, r);
    return {c, serve_here(r)};
  }

  // The service of a service-scoped peer operation.
  static std::optional<std::string> service_scope(const ipc::request& r) {
    if (auto* m = std::get_if<ipc::req::add_peer>(&r)) return m->scope.service;
    if (auto* m = std::get_if<ipc::req::remove_peer>(&r)) return m->scope.service;
    if (auto* m = std::get_if<ipc::req::add_allowed_ip>(&r)) return m->scope.service;
    if (auto* m = std::get_if<ipc::req::remove_allowed_ip>(&r)) return m->scope.service;
    return std::nullopt;
  }

  ipc::response serve_here(const ipc::request& r) {
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
            [this](const ipc::req::attach_container& m) { return attach(m); },
            [this](const ipc::req::detach_container& m) { return detach(m); },
            [this](const ipc::req::remove_peer& m) { return remove_peer(m); },
            [this](const ipc::req::add_allowed_ip& m) { return allowed_ip(m.pubkey, m.cidr, true); },
            [this](const ipc::req::remove_allowed_ip& m) { return allowed_ip(m.pubkey, m.cidr, false); },
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
              // The gateway routes these to their own actors.
              return engine_error("internal: " + std::string(ipc::op_name(r)) + " reached the supervisor");
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
    report_journal(host_->report());
    start_drift_watch();
    sweep_veths();
    const size_t n = host_->leftover_changes();
    if (n && cfg_.restart_grace.count() > 0) {
      // A crash, or an exit without teardown: what is still there is
      // adopted, so containers keep their network through the restart.
      if (auto r = host_->recover(host::recovery_mode::adopt); !r) {
        spdlog::warn("adopting the previous run's host changes failed ({}); reverting them", r.err().message);
      } else {
        load_adoptable();
        adopting_ = true;
        spdlog::warn("found {} host change(s) journaled by a previous run that did not tear down; adopting "
                     "{} still in place and {} container attachment(s); what the agent does not claim again "
                     "within {} s is reverted",
                     n, host_->unclaimed().size(), adoptable_count(), cfg_.restart_grace.count());
        delayed_send(this, cfg_.restart_grace, adopt_end_atom::value);
        return;
      }
    }
    if (n) {
      spdlog::warn("found {} host changes journaled by a previous run that did not tear down; "
                   "reverting them",
                   n);
      if (auto r = host_->recover(host::recovery_mode::revert); !r)
        spdlog::warn("recovery left something behind: {}", r.err().message);
    }
    remove_attachment_files();
  }

  // ---- restarts: adoption ----------------------------------------------------

  // <data_dir>/attachments/*: each service's containers as the previous run
  // left them (net/attachment_file.hpp). A file that does not parse is
  // moved aside and reported; its containers are reverted with the journal.
  void load_adoptable() {
    const std::string dir = cfg_.data_dir + "/" + net::attachment_dir_name;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string path = e.path().string();
      if (path.find(".corrupt-") != std::string::npos || path.find(".tmp") != std::string::npos) continue;
      auto text = read_file_nofollow(path);
      auto f = text ? net::parse_attachment_file(*text) : result<net::attachment_file>(std::move(text).err());
      if (f && net::attachment_file_path(cfg_.data_dir, f->service) != path)
        f = error(errc::protocol, "names service '" + f->service + "', which is not its file name");
      if (!f) {
        auto aside = quarantine_file(path);
        const std::string where = aside ? *aside : "(not moved: " + aside.err().message + ")";
        spdlog::error("{} did not parse ({}); kept as {}; its containers are not adopted", path, f.err().message, where);
        obs_->report_state_problem(path + " did not parse (" + f.err().message + "); moved aside to " + where, true);
        continue;
      }
      auto& m = adoptable_[f->service];
      for (auto& r : f->records) m[r.pid] = r;
    }
  }

  size_t adoptable_count() const {
    size_t n = 0;
    for (const auto& [svc, m] : adoptable_) n += m.size();
    return n;
  }

  void remove_attachment_files() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(cfg_.data_dir + "/" + net::attachment_dir_name, ec))
      if (e.path().string().find(".corrupt-") == std::string::npos) std::filesystem::remove(e.path(), ec);
  }

  // The grace period is over: services detach the containers nobody
  // claimed, then every host change still unclaimed is reverted.
  void end_adoption() {
    if (!adopting_) return;
    adopting_ = false;
    std::vector<std::string> dropped;
    for (auto& [svc, ch] : services_) {
      caf::scoped_actor self{system()};
      self->request(ch->actor, std::chrono::seconds(30), adopt_end_atom::value, correlation_id{0})
          .receive([&](correlation_id, std::vector<std::string>& d) { dropped.insert(dropped.end(), d.begin(), d.end()); },
                   [&](caf::error& e) { spdlog::warn("service {}: end of adoption: {}", svc, caf::to_string(e)); });
    }
    // Services never set up again: their files go (the journal reverts
    // their links and fences).
    for (const auto& [svc, m] : adoptable_) {
      for (const auto& [pid, r] : m)
        dropped.push_back("service " + svc + " pid " + std::to_string(pid) + " (" + r.service_ip.to_string() + ")");
      std::error_code ec;
      std::filesystem::remove(net::attachment_file_path(cfg_.data_dir, svc), ec);
    }
    adoptable_.clear();
    for (const auto& d : dropped)
      spdlog::warn("restart grace period over: {} was not attached again by the agent; detached", d);
    if (!host_) return;
    auto r = host_->revert_unclaimed();
    if (!r) {
      spdlog::warn("restart grace period over: {}", r.err().message);
      return;
    }
    for (const auto& c : *r) spdlog::warn("restart grace period over: {} was not claimed again; reverted", c);
    spdlog::info("restart grace period over: {} container(s) detached, {} host change(s) reverted", dropped.size(),
                 r->size());
  }

  // Our nft tables are put back within seconds when someone else changes
  // them (net/host/drift_watch.hpp).
  void start_drift_watch() {
    auto v = host_->view();
    if (!v) {
      spdlog::warn("drift watch not started: {}", v.err().message);
      return;
    }
    auto w = host::drift_watch::start(std::move(v).value(), std::chrono::seconds(2),
                                      [obs = obs_] { obs->count_drift_repair(); });
    if (!w) spdlog::warn("drift watch not started: {}", w.err().message);
    else drift_ = std::move(w).value();
  }

  // What the journal check at open found: to /healthz and /metrics (the
  // mutator has logged each line already).
  void report_journal(const host::mutator::open_report& r) {
    if (r.quarantined_to)
      obs_->report_state_problem("host journal did not parse (" + r.quarantine_reason + "); moved aside to " +
                                     *r.quarantined_to + "; re-owned " + std::to_string(r.reowned.size()) +
                                     " provably ours",
                                 true);
    for (const auto& line : r.skipped) obs_->report_state_problem("host journal entry skipped: " + line, false);
  }

  // A child's own view of the host (its own netlink socket, our journal).
  result<std::shared_ptr<host::mutator>> host_view() {
    if (!host_) return error(errc::precondition, "host mechanics unavailable: " + host_error_);
    auto v = host_->view();
    if (!v) return std::move(v).err();
    return std::make_shared<host::mutator>(std::move(v).value());
  }

  // Reverse order of setup: the device first, then every journaled change.
  void revert_host_state() { teardown_global(); }

  // Exit without teardown (--keep-on-exit): the children stop, our
  // devices close with the process, and everything else on the host stays
  // as it is, journaled, for the next start to adopt.
  void leave_host_state() {
    spdlog::info("exiting without teardown: the next start adopts bridges, containers and rules");
    dns_listen(false);
    if (nat_link_) {
      std::lock_guard lock(nat_link_->mu);
      nat_link_->device = nullptr;
    }
    nat_link_.reset();
    for (auto& [svc, ch] : services_) anon_send_exit(ch->actor, caf::exit_reason::user_shutdown);
    for (auto& [svc, d] : dedicated_) anon_send_exit(d.actor, caf::exit_reason::user_shutdown);
    services_.clear();
    dedicated_.clear();
    global_.reset();
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
    spec.pin_threads = cfg_.wg_pin_threads;
    spec.mtu = cfg_.wg_mtu;
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
    publish_global_routes();
    spdlog::info("global overlay {} up: node IP {}, cluster {}, port {}", global_->interface(),
                 global_->node_ip().to_string(), cluster.to_string(), global_->device().listen_port());
    return ipc::resp::bridge_name{global_->interface()};
  }

  // Overlay DNS answers on <node_ip>:53 while the global overlay is up, and
  // resolves outside names for the cluster's addresses.
  void dns_listen(bool on) {
    if (dns_ && global_) {
      caf::anon_send(dns_, dns_listen_atom::value, correlation_id{0},
                     net::endpoint(global_->node_ip(), 53), on);
      caf::anon_send(dns_, dns_allow_atom::value, correlation_id{0}, global_->cluster(), on);
    }
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
      s.direct_retry = cfg_.nat_direct_retry;
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
    // Service children first (each finishes what it was doing, closes its
    // pools and lets go of the global device), then dedicated devices (their
    // marker entries stay: identity for the next run), then the device, then
    // every other host change — links included — from the journal.
    const auto ctx = context();
    for (auto& [svc, ch] : services_)
      (void)ask_child(ch->actor, svc_down_atom::value, correlation_id{0}, ctx, teardown_kind::global,
                      dedicated_transport_actor{});
    for (auto& [svc, d] : dedicated_) (void)ask_child(d.actor, ded_down_atom::value, correlation_id{0}, false);
    auto services = std::move(services_);
    auto dedicated = std::move(dedicated_);
    services_.clear();
    dedicated_.clear();
    // Out of the maps first: the down handler restarts only what it finds.
    for (auto& [svc, ch] : services) anon_send_exit(ch->actor, caf::exit_reason::user_shutdown);
    for (auto& [svc, d] : dedicated) anon_send_exit(d.actor, caf::exit_reason::user_shutdown);
    pid_owner_.clear();
    // Guests' peers went with the device; they must not come back on the
    // next one (the guests' attachments are gone with this teardown).
    for (const auto& [id, g] : guest_attachments_) state_.global_peers.erase(g.public_key);
    guest_attachments_.clear();
    host_shared_.clear();
    if (shared_bridge_) ask(pool::close{shared_bridge_->name});
    shared_bridge_.reset();
    service_modes_.clear();
    global_.reset();
    if (allocator_) publish_global_routes();
    if (host_) {
      if (auto r = host_->revert_all(); !r) spdlog::warn("teardown: {}", r.err().message);
    }
    // Nothing is left to adopt after a full teardown.
    adopting_ = false;
    adoptable_.clear();
    remove_attachment_files();
  }

  ipc::response status_snapshot() {
    ipc::status_snapshot s;
    // Services whose setup succeeded and that are not torn down (seed: the
    // service interfaces; a failed setup records the mode but is not counted).
    s.service_count = static_cast<uint32_t>(
        std::count_if(services_.begin(), services_.end(), [](const auto& kv) { return kv.second->st->up.load(); }));
    if (global_) {
      s.interface = global_->interface();
      s.node_ip = global_->node_ip();
      s.public_key = global_->public_key_base64();
      for (auto& p : global_->device().current_status().peers) s.peers.push_back(to_wire(p));
    }
    // Read from the published devices: a busy dedicated_transport never
    // stalls status.
    for (auto& [svc, ch] : dedicated_) {
      auto d = ch.st->published();
      if (!d) continue;
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

  // Every service with a recorded mode: its bridge pool (the allocator's
  // bindings), and for dedicated ones the published device.
  std::vector<service_row> service_table() {
    std::map<std::string, net::node_pools::binding> bound;
    for (auto& b : ask(pool::bindings{}).bindings) bound.emplace(b.service, b);
    std::vector<service_row> rows;
    for (const auto& [svc, mode] : service_modes_) {
      service_row r;
      r.service = svc;
      r.mode = ipc::to_string(mode);
      if (auto it = bound.find(svc); it != bound.end()) {
        r.bridge = it->second.pool;
        r.subnet = it->second.range;
        r.gateway = it->second.range.network().plus(1);
        r.members = it->second.in_use;
      }
      if (auto it = dedicated_.find(svc); it != dedicated_.end())
        if (auto d = it->second.st->published()) {
          r.dedicated_interface = d->interface();
          r.dedicated_port = d->port();
          r.dedicated_public_key = d->public_key_base64();
        }
      rows.push_back(std::move(r));
    }
    return rows;
  }

  std::vector<peer_row> peer_table() {
    std::vector<peer_row> rows;
    auto add = [&rows](const std::string& dev, const std::string& svc, const wg::device& d) {
      for (const auto& p : d.current_status().peers) {
        const auto w = to_wire(p);
        rows.push_back({dev, svc, w.public_key, w.endpoint, w.allowed_ips, w.last_handshake_unix_secs, p.rx_bytes,
                        p.tx_bytes});
      }
    };
    if (global_) add(global_->interface(), "", global_->device());
    for (auto& [svc, d] : dedicated_)
      if (auto dev = d.st->published()) add(dev->interface(), svc, dev->device());
    return rows;
  }

  // ---- children ----------------------------------------------------------------

  pool_reply ask(pool_request r) { return pools_->ask(system(), std::move(r)); }

  // A blocking request to a child (the supervisor is detached); used where
  // the supervisor itself must act on the answer before it goes on.
  template <class Handle, class... Ts>
  std::optional<ipc::response> ask_child(const Handle& h, Ts&&... xs) {
    if (!h) return std::nullopt;
    caf::scoped_actor self{system()};
    std::optional<ipc::response> out;
    self->request(h, std::chrono::seconds(30), std::forward<Ts>(xs)...)
        .receive([&](correlation_id, ipc::response& r) { out = std::move(r); },
                 [&](caf::error& e) { spdlog::warn("child did not answer: {}", caf::to_string(e)); });
    return out;
  }

  std::string node_key() const { return std::to_string(state_.local_node_id); }
  uint16_t port_base() const { return cfg_.dedicated_port_base; }

  service_context context() const {
    service_context c;
    c.deployment = state_.deployment;
    c.instance_id = state_.instance_id;
    c.node_key = node_key();
    c.data_dir = cfg_.data_dir;
    c.uapi_dir = cfg_.uapi_dir;
    c.port_base = port_base();
    c.pin_threads = cfg_.wg_pin_threads;
    c.mtu = cfg_.wg_mtu;
    c.local_wg_pubkey = state_.local_wg_pubkey;
    c.cluster = state_.cluster;
    c.global = global_;
    c.shared_bridge = shared_bridge_;
    return c;
  }

  result<std::shared_ptr<service_child>> service_for(const std::string& svc) {
    if (auto it = services_.find(svc); it != services_.end()) return it->second;
    if (services_.size() >= max_services)
      return error(errc::exhausted, "too many services on this node (limit " + std::to_string(max_services) + ")");
    auto view = host_view();
    if (!view) return std::move(view).err();
    auto ch = std::make_shared<service_child>();
    ch->st = std::make_shared<service_state>(svc);
    ch->st->attachments_path = net::attachment_file_path(cfg_.data_dir, svc);
    if (auto a = adoptable_.find(svc); a != adoptable_.end()) {
      ch->st->adoptable = std::move(a->second);
      adoptable_.erase(a);
    }
    ch->host = *view;
    ch->actor = spawn_service_overlay(system(), obs_, ch->st, ch->host, pools_);
    monitor(ch->actor);
    services_[svc] = ch;
    return ch;
  }

  result<dedicated_child*> dedicated_for(const std::string& svc) {
    if (auto it = dedicated_.find(svc); it != dedicated_.end()) return &it->second;
    auto view = host_view();
    if (!view) return std::move(view).err();
    dedicated_child d;
    d.st = std::make_shared<dedicated_state>(svc, marker_);
    d.host = *view;
    d.actor = spawn_dedicated_transport(system(), obs_, d.st, d.host, pools_);
    monitor(d.actor);
    return &(dedicated_[svc] = std::move(d));
  }

  dedicated_transport_actor dedicated_actor(const std::string& svc) const {
    auto it = dedicated_.find(svc);
    return it == dedicated_.end() ? dedicated_transport_actor{} : it->second.actor;
  }

  // Sends one request to a service's actor and answers the caller when it
  // replies; then retires the service if that request left it torn down.
  template <class... Ts>
  reply via_service(correlation_id c, const std::string& svc, const std::shared_ptr<service_child>& ch,
                    Ts&&... xs) {
    auto rp = make_response_promise<correlation_id, ipc::response>();
    ++ch->inflight;
    request(ch->actor, caf::infinite, std::forward<Ts>(xs)...)
        .then(
            [this, rp, ch, svc](correlation_id cc, ipc::response& r) mutable {
              after_service_reply(svc, ch);
              rp.deliver(cc, std::move(r));
            },
            [this, rp, ch, svc, c](caf::error& e) mutable {
              after_service_reply(svc, ch);
              rp.deliver(c, engine_error("service " + svc + ": its actor failed (" + caf::to_string(e) +
                                         "); it is being restarted, retry"));
            });
    return rp;
  }

  void after_service_reply(const std::string& svc, const std::shared_ptr<service_child>& ch) {
    --ch->inflight;
    auto it = services_.find(svc);
    if (it == services_.end() || it->second != ch) return;  // already retired
    if (ch->inflight > 0 || ch->st->up) return;
    // Torn down (teardown_service, ephemeral last leaver) or never set up:
    // the actor goes, and so does the service's dedicated device. A service
    // that went down by itself (ephemeral) is no longer counted.
    if (ch->forget_identity) service_modes_.erase(svc);
    retire(svc, ch->forget_identity);
  }

  void retire(const std::string& svc, bool forget_identity) {
    if (auto it = services_.find(svc); it != services_.end()) {
      auto ch = it->second;
      services_.erase(it);  // first: the down handler restarts only what it finds
      anon_send_exit(ch->actor, caf::exit_reason::user_shutdown);
    }
    if (auto it = dedicated_.find(svc); it != dedicated_.end()) {
      (void)ask_child(it->second.actor, ded_down_atom::value, correlation_id{0}, forget_identity);
      auto a = it->second.actor;
      dedicated_.erase(it);
      anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  }

  // ---- service overlays (seed semantics; the work is in service_overlay) ----

  reply setup_service(correlation_id c, const ipc::req::setup_service_overlay& m) {
    if (!host_) return {c, engine_error("host mechanics unavailable: " + host_error_)};
    // Before any setup_global_overlay the registry carves the default
    // cluster (10.200.0.0/16), as the seed does; the services then have
    // bridges and no cross-node transport until the global overlay is up.
    if (!state_.cluster) {
      const net::cidr cluster = default_node_slice();
      if (auto r = ask(pool::set_cluster{cluster, net::ip_allocator(state_.node_slice).node_ip()}); r.failure)
        return {c, engine_error(r.failure->message)};
    }
    // The mode is recorded before any host work (seed): attach uses it.
    service_modes_[m.service] = m.mode;
    if (ipc::uses_shared_bridge(m.mode)) {
      if (auto r = ensure_shared_bridge(); !r) return {c, engine_error(r.err().message)};
    }
    auto ch = service_for(m.service);
    if (!ch) return {c, engine_error(ch.err().message)};
    dedicated_transport_actor ded;
    if (ipc::uses_per_service_wg(m.mode)) {
      auto d = dedicated_for(m.service);
      if (!d) return {c, engine_error(d.err().message)};
      ded = (*d)->actor;
    }
    (*ch)->forget_identity = false;  // a failed setup keeps the marker (seed)
    return via_service(c, m.service, *ch, svc_setup_atom::value, c, context(), m.mode, ded);
  }

  reply teardown_service(correlation_id c, const std::string& svc) {
    service_modes_.erase(svc);
    auto ch = service_for(svc);  // even with nothing in memory: delete by name (seed)
    if (!ch) {
      // No host view (host mechanics unavailable): nothing of ours to remove.
      ask(pool::unbind{svc});
      return {c, ipc::resp::ok{}};
    }
    (*ch)->forget_identity = true;
    if (!dedicated_.count(svc)) {
      // A dedicated identity left in the marker by an earlier run still goes.
      if (auto d = dedicated_for(svc); !d) spdlog::warn("service {}: {}", svc, d.err().message);
    }
    return via_service(c, svc, *ch, svc_down_atom::value, c, context(), teardown_kind::service, dedicated_actor(svc));
  }

  result<std::string> ensure_shared_bridge() {
    if (shared_bridge_) return shared_bridge_->name;
    auto sub = ask(pool::assign_subnet{shared_bridge_key, node_key()});
    if (sub.failure) return *sub.failure;
    const std::string name = net::make_interface_name({state_.deployment, state_.instance_id, "shared"}, "sh");
    bridge_info b{name, sub.subnet->normalized(), sub.subnet->normalized().network().plus(1)};
    if (auto r = overlay::create_bridge(*host_, name, net::cidr(b.gateway, sub.subnet->prefix_len())); !r) {
      ask(pool::release_subnet{shared_bridge_key, node_key()});
      return error(r.err().code, "create_bridge(" + name + ") failed: " + r.err().message);
    }
    ask(pool::open{name, b.subnet});
    shared_bridge_ = b;
    return name;
  }

  // ---- container attach ------------------------------------------------------

  // What every attach records, whichever actor serves it.
  void note_attach_dns(const ipc::req::attach_container& m) {
    if (m.dns_server) dns_server_ = m.dns_server;
    if (m.dns_domain) {
      dns_domain_ = m.dns_domain;  // a guest's config names the last one given
      // Served besides --dns-domain, never instead of it: containers that
      // search other domains keep resolving.
      if (dns_domains_.size() < 64 && dns_domains_.insert(*m.dns_domain).second && dns_)
        caf::anon_send(dns_, dns_domain_atom::value, correlation_id{0}, *m.dns_domain);
    }
  }

  reply attach_linux(correlation_id c, const ipc::req::attach_container& m) {
    note_attach_dns(m);
    if (!host_) return {c, engine_error("host mechanics unavailable: " + host_error_)};
    sweep_veths();
    auto it = services_.find(m.service);
    if (it == services_.end() || !it->second->st->up) {
      const bool shared = service_modes_.count(m.service) && ipc::uses_shared_bridge(service_modes_[m.service]);
      return {c, ipc::resp::err{shared ? "no shared bridge for Shared-mode service " + m.service +
                                             "; call setup_service_overlay() first"
                                       : "no service bridge for service " + m.service +
                                             "; call setup_service_overlay() first"}};
    }
    const uint32_t pid = std::get<ipc::linux_pid>(m.handle).pid;
    if (auto o = pid_owner_.find(pid); o != pid_owner_.end() && o->second != m.service)
      return {c, ipc::resp::err{"container pid " + std::to_string(pid) + " is already attached to service " +
                                o->second + "; detach it first"}};
    pid_owner_[pid] = m.service;
    return via_service(c, m.service, it->second, svc_attach_atom::value, c, context(), m);
  }

  reply detach_linux(correlation_id c, uint32_t pid) {
    auto o = pid_owner_.find(pid);
    if (o == pid_owner_.end() || !services_.count(o->second)) {
      // No record (a restarted daemon, a retired service): by name, idempotent.
      if (host_) overlay::detach_veths(*host_, pid);
      if (o != pid_owner_.end()) pid_owner_.erase(o);
      return {c, ipc::resp::ok{}};
    }
    const std::string svc = o->second;
    pid_owner_.erase(o);
    auto ch = services_[svc];
    ch->forget_identity = true;  // an ephemeral last leaver tears the service down
    return via_service(c, svc, ch, svc_detach_atom::value, c, pid);
  }

  ipc::response attach(const ipc::req::attach_container& m) {
    note_attach_dns(m);
    return std::visit(
        overloaded{
            [&](const ipc::linux_pid&) -> ipc::response { return engine_error("internal: linux_pid not routed"); },
            [&](const ipc::windows_container&) -> ipc::response {
              return ipc::resp::err{"windows_container attach is not supported on Linux"};
            },
            [&](const ipc::guest_managed& h) -> ipc::response { return attach_guest(h.id, m); },
            [&](const ipc::host_shared& h) -> ipc::response { return attach_host_shared(h.id, m); },
        },
        m.handle);
  }

  ipc::response detach(const ipc::req::detach_container& m) {
    if (auto* g = std::get_if<ipc::guest_managed>(&m.handle)) return detach_guest(g->id);
    if (auto* h = std::get_if<ipc::host_shared>(&m.handle)) return detach_host_shared(h->id);
    // Nothing of a Windows container can exist on Linux: detaching it is
    // trivially done (the agent may detach whatever it once asked for).
    return ipc::resp::ok{};
  }

  // veth-<pid>-* links of dead containers (a crashed runtime, a previous
  // daemon): swept at start-up, every cfg_.veth_sweep_period, and before a
  // linux_pid attach when the last sweep is older than veth_sweep_interval
  // (listing every link on each attach is what the seed does; a busy node
  // attaches far more often than containers die unseen).
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

  // Fails closed: the caller refuses the attach when the fence is not in place.
  status join_isolation(const std::string& network, const net::ip_address& ip) {
    if (auto r = host_->ensure_member_isolation(network, ip, global_->node_ip(), global_->cluster()); !r)
      return error(r.err().code, "isolation network " + network + " for " + ip.to_string() +
                                     " could not be fenced: " + r.err().message);
    return {};
  }

  void leave_isolation(const std::string& network, const net::ip_address& ip) {
    if (host_) (void)host_->remove_member_isolation(network, ip);
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
    for (auto& [svc, d] : dedicated_) {
      protected_.insert(net::make_interface_name({state_.deployment, state_.instance_id, svc}, "d"));
      if (auto dev = d.st->published()) protected_.insert(dev->interface());
    }
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
      std::optional<std::string> owner;
      if (auto it = name_to_key.find(name); it != name_to_key.end()) {
        auto& [svc, node, subnet] = it->second;
        owner = svc;
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
      // The service's actor forgets the bridge (and closes its pool).
      if (owner)
        if (auto it = services_.find(*owner); it != services_.end())
          (void)ask_child(it->second->actor, svc_down_atom::value, correlation_id{0}, context(),
                          teardown_kind::pruned, dedicated_transport_actor{});
      reclaimed.push_back(name);
    }
    return reclaimed;
  }

  // ---- guest_managed (seed: attach_container_guest) -------------------------

  ipc::response attach_guest(const std::string& id, const ipc::req::attach_container& m) {
    // Fail before allocating anything (seed).
    if (!global_)
      return ipc::resp::err{"guest-managed attach requires the global overlay to be set up first "
                            "(no node WireGuard public key)"};
    if (auto it = guest_attachments_.find(id); it != guest_attachments_.end()) {
      // The agent retrying after a lost reply: the same answer, same keys.
      if (it->second.service == m.service) {
        ipc::guest_overlay_config again = it->second.config;
        again.private_key = crypto::key_to_base64(it->second.key->span());
        return ipc::resp::guest_config{std::move(again)};
      }
      return ipc::resp::err{"guest " + id + " is already attached to service " + it->second.service + " (" +
                            it->second.overlay_ip.to_string() + "); detach it first"};
    }
    if (guest_attachments_.size() >= max_guest_attachments)
      return ipc::resp::err{"too many guest attachments (limit " + std::to_string(max_guest_attachments) + ")"};
    // 1. The IP from the service's bridge pool when it has one, else the
    // node slice; the prefix is that pool's (allocator: allocate(service)).
    auto ip = ask(pool::allocate{m.service});
    if (ip.failure) return engine_error(ip.failure->message);
    const net::ip_address overlay_ip = *ip.ip;
    const uint8_t prefix_len =
        static_cast<uint8_t>(ip.subnet ? ip.subnet->prefix_len() : state_.node_slice.prefix_len());
    // 2. The guest's keys.
    auto sk = crypto::generate_private_key();
    const std::string guest_pub = crypto::key_to_base64(crypto::public_from_private(sk).span());
    // 3. Exactly one peer: this node (its dedicated device for a dedicated
    // service), AllowedIPs the cluster (or that service's subnet), keepalive
    // 25 to hold the guest's NAT mapping; the runtime rewrites the endpoint.
    std::shared_ptr<overlay::dedicated_overlay> ded;
    if (auto it = dedicated_.find(m.service); it != dedicated_.end()) ded = it->second.st->published();
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
    // route so the kernel hands its traffic to that device. On a dedicated
    // device the peer goes through its actor (so a restart restores it).
    ipc::peer_spec guest_peer;
    guest_peer.public_key = guest_pub;
    guest_peer.endpoint = "0.0.0.0:0";
    guest_peer.allowed_ips = host_cidr(overlay_ip).to_string();
    status added;
    auto pc = overlay::parse_peer(guest_peer.public_key, guest_peer.endpoint, guest_peer.allowed_ips, 0);
    if (!pc) {
      added = std::move(pc).err();
    } else if (ded) {
      auto r = ask_child(dedicated_actor(m.service), ded_peer_atom::value, correlation_id{0},
                         ipc::request{ipc::req::add_peer{guest_peer, ipc::peer_scope{m.service}, true}});
      if (!r) added = error(errc::internal, "dedicated transport did not answer");
      else if (auto* e = std::get_if<ipc::resp::err>(&*r)) added = error(errc::internal, e->message);
    } else {
      added = global_->upsert_peer(*pc);
      if (added) added = host_->replace_route(host_cidr(overlay_ip), global_->interface());
    }
    if (!added) {
      if (!ded && pc) (void)global_->remove_peer(pc->key);
      ask(pool::release{overlay_ip});
      return engine_error("guest " + id + ": " + added.err().message);
    }
    // Isolation fails closed: a guest whose fence cannot be installed is
    // not attached at all.
    if (m.isolation_network)
      if (auto r = join_isolation(*m.isolation_network, overlay_ip); !r) {
        if (ded) {
          (void)ask_child(dedicated_actor(m.service), ded_peer_atom::value, correlation_id{0},
                          ipc::request{ipc::req::remove_peer{guest_pub, ipc::peer_scope{m.service}}});
        } else {
          (void)global_->remove_peer(pc->key);
          (void)host_->delete_route(host_cidr(overlay_ip), global_->interface());
        }
        ask(pool::release{overlay_ip});
        return engine_error("guest " + id + ": " + r.err().message);
      }
    state_.global_peers[guest_pub] = guest_peer;
    // 5. The config the caller ships into the guest.
    ipc::guest_overlay_config cfg;
    cfg.overlay_ip = overlay_ip;
    cfg.prefix_len = prefix_len;
    cfg.public_key = guest_pub;
    cfg.listen_port = listen_port;
    cfg.peers.push_back(std::move(node_peer));
    cfg.dns_server = m.dns_server ? m.dns_server : std::optional<net::ip_address>(global_->node_ip());
    cfg.dns_domain = m.dns_domain ? m.dns_domain : dns_domain_ ? dns_domain_ : std::optional<std::string>(cfg_.dns.domain);
    guest_info info{overlay_ip, guest_pub, ded ? std::optional<std::string>(m.service) : std::nullopt,
                    m.isolation_network, m.service, cfg,
                    std::make_shared<const crypto::private_key>(std::move(sk))};
    guest_attachments_.emplace(id, std::move(info));
    cfg.private_key = crypto::key_to_base64(guest_attachments_.at(id).key->span());
    return ipc::resp::guest_config{std::move(cfg)};
  }

  // Idempotent: an unknown id is ok (seed).
  ipc::response detach_guest(const std::string& id) {
    auto it = guest_attachments_.find(id);
    if (it == guest_attachments_.end()) return ipc::resp::ok{};
    guest_info info = std::move(it->second);
    guest_attachments_.erase(it);
    state_.global_peers.erase(info.public_key);
    if (info.dedicated_service) {
      auto r = ask_child(dedicated_actor(*info.dedicated_service), ded_peer_atom::value, correlation_id{0},
                         ipc::request{ipc::req::remove_peer{info.public_key, ipc::peer_scope{*info.dedicated_service}}});
      if (r)
        if (auto* e = std::get_if<ipc::resp::err>(&*r)) spdlog::warn("guest {}: removing its peer: {}", id, e->message);
    } else if (global_) {
      if (auto k = crypto::public_key_from_base64(info.public_key); k)
        if (auto r = global_->remove_peer(*k); !r) spdlog::warn("guest {}: removing its peer: {}", id, r.err().message);
      if (host_) (void)host_->delete_route(host_cidr(info.overlay_ip), global_->interface());
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
    if (auto it = host_shared_.find(id); it != host_shared_.end()) {
      if (it->second.service == m.service) return ipc::resp::attached{{it->second.ip, std::nullopt}};  // a retry
      return ipc::resp::err{"host-shared container " + id + " is already attached to service " +
                            it->second.service + " (" + it->second.ip.to_string() + "); detach it first"};
    }
    if (host_shared_.size() >= max_host_shared_attachments)
      return ipc::resp::err{"too many host-shared attachments (limit " +
                            std::to_string(max_host_shared_attachments) + ")"};
    auto ip = ask(pool::allocate_slice{});
    if (ip.failure) return engine_error(ip.failure->message);
    if (auto r = global_->device().add_alias(*ip.ip); !r) {
      ask(pool::release{*ip.ip});
      return engine_error(r.err().message);
    }
    if (m.isolation_network)
      if (auto r = join_isolation(*m.isolation_network, *ip.ip); !r) {  // fails closed
        (void)global_->device().remove_alias(*ip.ip);
        ask(pool::release{*ip.ip});
        return engine_error("host-shared " + id + ": " + r.err().message);
      }
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

  // ---- peers -------------------------------------------------------------------

  // Service scope: the service's dedicated_transport answers.
  reply via_dedicated(correlation_id c, const std::string& svc, const ipc::request& r) {
    auto it = dedicated_.find(svc);
    if (it == dedicated_.end() || !it->second.st->published())
      return {c, ipc::resp::err{"no dedicated overlay for service " + svc}};
    auto rp = make_response_promise<correlation_id, ipc::response>();
    request(it->second.actor, caf::infinite, ded_peer_atom::value, c, r)
        .then([rp](correlation_id cc, ipc::response& resp) mutable { rp.deliver(cc, std::move(resp)); },
              [rp, c, svc](caf::error& e) mutable {
                rp.deliver(c, engine_error("dedicated transport of " + svc + " failed (" + caf::to_string(e) +
                                           "); it is being restarted, retry"));
              });
    return rp;
  }

  // Routes that contradict this node's own addressing are refused: a CIDR
  // equal to or covering a local service subnet or the node's own slice
  // would pull local traffic onto a peer. A more specific one (a guest's
  // /32) is fine. Names both sides.
  std::optional<std::string> route_conflict(const std::string& op, const std::string& key,
                                            const std::vector<net::cidr>& cidrs) {
    auto r = ask(pool::route_check{cidrs, node_key()});
    if (!r.failure) return std::nullopt;
    return op + " " + key + ": refused: " + r.failure->message;
  }

  // WireGuard's rule: a CIDR already held by another peer moves to this one.
  // The agent may rely on it; count it and say so.
  void note_moves(const overlay::global_overlay& g, const crypto::public_key& to, const std::vector<net::cidr>& cidrs) {
    for (const auto& [c, from] : overlay::cidr_moves(g.device(), to, cidrs)) {
      obs_->counters().allowed_ip_moves.fetch_add(1);
      spdlog::warn("allowed IP {} moves from peer {} to peer {} on {}", c.to_string(),
                   crypto::key_to_base64(from.span()), crypto::key_to_base64(to.span()), g.interface());
    }
  }

  // The allocator keeps new service subnets off what the global device routes.
  void publish_global_routes() {
    ask(pool::set_routed{"global", global_ ? overlay::routed_cidrs(global_->device()) : std::vector<net::cidr>{}});
  }

  ipc::response add_peer(const ipc::req::add_peer& m) {
    const auto& p = m.peer;
    if (auto ips = net::parse_cidr_list(p.allowed_ips); ips)
      if (auto why = route_conflict("add_peer", p.public_key, *ips)) return ipc::resp::err{*why};
    if (global_) {
      auto pc = overlay::parse_peer(p.public_key, p.endpoint, p.allowed_ips, p.persistent_keepalive_secs);
      if (!pc) return ipc::resp::err{pc.err().message};
      note_moves(*global_, pc->key, pc->allowed_ips);
      // The same endpoint again (the agent re-sending a peer, e.g. with new
      // NAT candidates) leaves the device's endpoint alone: it may have
      // roamed, or NAT traversal may have moved it to a punched or relayed
      // address, which the agent's copy knows nothing of.
      if (auto it = state_.global_peers.find(p.public_key);
          it != state_.global_peers.end() && it->second.endpoint == p.endpoint)
        pc->endpoint = net::endpoint{};
      if (auto r = global_->upsert_peer(*pc); !r) return engine_error("add_peer failed: " + r.err().message);
      publish_global_routes();
    } else {
      // Seed: no host transport yet → record, install when the device exists.
      spdlog::warn("global overlay not set up; recording peer {} for later", p.public_key);
    }
    state_.global_peers[p.public_key] = p;
    nat_peer_send(p.public_key, p.candidates);
    return ipc::resp::ok{};
  }

  ipc::response remove_peer(const ipc::req::remove_peer& m) {
    if (global_) {
      auto k = crypto::public_key_from_base64(m.pubkey);
      if (!k) return ipc::resp::err{"invalid public key " + m.pubkey};
      if (auto r = global_->remove_peer(*k); !r) return engine_error("remove_peer failed: " + r.err().message);
      publish_global_routes();
    }
    state_.global_peers.erase(m.pubkey);
    nat_peer_send(m.pubkey, {});
    return ipc::resp::ok{};
  }

  ipc::response allowed_ip(const std::string& pubkey, const std::string& cidr, bool add) {
    if (!global_) return ipc::resp::ok{};  // seed: nothing to plumb into yet
    auto k = crypto::public_key_from_base64(pubkey);
    if (!k) return ipc::resp::err{"invalid public key " + pubkey};
    auto c = net::cidr::parse(cidr);
    if (!c) return ipc::resp::err{"invalid CIDR " + cidr + ": " + c.err().message};
    if (add) {
      if (auto why = route_conflict("add_allowed_ip", pubkey, {*c})) return ipc::resp::err{*why};
      note_moves(*global_, *k, {*c});
    }
    auto r = add ? global_->add_allowed_ip(*k, *c) : global_->remove_allowed_ip(*k, *c);
    if (!r) return engine_error(std::string(add ? "add" : "remove") + "_allowed_ip failed: " + r.err().message);
    publish_global_routes();
    return ipc::resp::ok{};
  }

  // ---- supervision -----------------------------------------------------------

  ipc::response crash_child(const std::string& child) {
    auto svc_of = [&](std::string_view prefix) -> std::optional<std::string> {
      if (child.rfind(prefix, 0) != 0) return std::nullopt;
      return child.substr(prefix.size());
    };
    // The child is restarted here, before this request is answered: our own
    // down message may still be on its way (the dying actor notifies its
    // monitors one after another), and a request after this one must find
    // the new actor. The late down message then names an address we no
    // longer hold and is ignored.
    if (auto svc = svc_of("service_overlay:")) {
      auto it = services_.find(*svc);
      if (it == services_.end()) return ipc::resp::err{"no service_overlay actor for service " + *svc};
      crash_and_wait(it->second->actor);
      restart_service(*svc, *it->second, "crash requested");
      return ipc::resp::ok{};
    }
    if (auto svc = svc_of("dedicated_transport:")) {
      auto it = dedicated_.find(*svc);
      if (it == dedicated_.end()) return ipc::resp::err{"no dedicated_transport actor for service " + *svc};
      crash_and_wait(it->second.actor);
      restart_dedicated(*svc, it->second, "crash requested");
      return ipc::resp::ok{};
    }
    // The singletons: killed, then restarted here (their down message then
    // names a handle we no longer hold), so the gateway has the new handles
    // before this request is answered.
    if (child == "allocator" && allocator_) {
      kill_and_wait(allocator_);
      restart_allocator("killed on request");
    } else if (child == "dns" && dns_) {
      kill_and_wait(dns_);
      restart_dns("killed on request");
    } else if (child == "nat_orchestrator" && nat_) {
      kill_and_wait(nat_);
      restart_nat("killed on request");
    } else {
      return ipc::resp::err{"unknown child " + child};
    }
    send(gateway_, routes_atom::value, allocator_, dns_, nat_);
    return ipc::resp::ok{};
  }

  // Waits for the child to die, so its down message is in our mailbox before
  // any later request: the next request finds the restarted child.
  template <class Handle>
  void crash_and_wait(const Handle& h) {
    caf::scoped_actor self{system()};
    self->monitor(h);
    self->send(h, crash_atom::value, correlation_id{0});
    self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(10)) >> [] {
      spdlog::warn("crash_child: the child did not exit within 10 s");
    });
  }

  template <class Handle>
  void kill_and_wait(const Handle& h) {
    caf::scoped_actor self{system()};
    self->monitor(h);
    self->send_exit(h, caf::exit_reason::kill);
    self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(10)) >> [] {
      spdlog::warn("crash_child: the child did not exit within 10 s");
    });
  }

  void restart_allocator(const std::string& why) {
    spdlog::warn("allocator exited ({}); restarting it over its pools", why);
    allocator_ = spawn_allocator(system(), obs_, pool_state_, cfg_.data_dir);
    monitor(allocator_);
    pools_->set(allocator_);
  }

  void restart_dns(const std::string& why) {
    spdlog::warn("dns actor exited ({}); restarting it", why);
    dns_ = spawn_dns(system(), obs_, cfg_.dns, dns_store_);
    monitor(dns_);
    for (const auto& d : dns_domains_) caf::anon_send(dns_, dns_domain_atom::value, correlation_id{0}, d);
    if (global_) dns_listen(true);
  }

  void restart_nat(const std::string& why) {
    spdlog::warn("nat_orchestrator exited ({}); restarting it", why);
    nat_ = spawn_nat_orchestrator(system(), obs_);
    monitor(nat_);
    nat_setup_send();
    for (const auto& [k, p] : state_.global_peers)
      if (!p.candidates.empty()) nat_peer_send(k, p.candidates);
  }

  // Same state, new actor: its bridge, attachments and pool binding carry on.
  void restart_service(const std::string& svc, service_child& ch, const std::string& why) {
    spdlog::warn("service_overlay {} exited ({}); restarting it", svc, why);
    ch.st->restarts.fetch_add(1);
    ch.actor = spawn_service_overlay(system(), obs_, ch.st, ch.host, pools_);
    monitor(ch.actor);
  }

  // The new actor rebuilds the device from the marker and its peers; we wait
  // for the rebuild (it does it before its first message), so requests after
  // this one find the device again.
  void restart_dedicated(const std::string& svc, dedicated_child& d, const std::string& why) {
    spdlog::warn("dedicated_transport {} exited ({}); restarting it", svc, why);
    const auto was_up = d.st->up_with;  // the dead actor no longer writes it
    d.actor = spawn_dedicated_transport(system(), obs_, d.st, d.host, pools_);
    monitor(d.actor);
    if (!was_up) return;
    caf::scoped_actor self{system()};
    self->request(d.actor, std::chrono::seconds(30), ded_up_atom::value, correlation_id{0}, *was_up)
        .receive(
            [&](correlation_id, dedicated_up& u) {
              if (u.failure) spdlog::error("dedicated_transport {}: not rebuilt: {}", svc, u.failure->message);
            },
            [&](caf::error& e) { spdlog::error("dedicated_transport {}: {}", svc, caf::to_string(e)); });
  }

  void on_child_down(const caf::down_msg& dm) {
    if (stopping_) return;
    for (auto& [svc, ch] : services_) {
      if (dm.source != ch->actor.address()) continue;
      restart_service(svc, *ch, to_string(dm.reason));
      return;
    }
    for (auto& [svc, d] : dedicated_) {
      if (dm.source != d.actor.address()) continue;
      restart_dedicated(svc, d, to_string(dm.reason));
      return;
    }
    if (allocator_ && dm.source == allocator_.address()) {
      restart_allocator(to_string(dm.reason));
    } else if (dns_ && dm.source == dns_.address()) {
      restart_dns(to_string(dm.reason));
    } else if (nat_ && dm.source == nat_.address()) {
      restart_nat(to_string(dm.reason));
    } else {
      return;
    }
    if (gateway_) send(gateway_, routes_atom::value, allocator_, dns_, nat_);
  }

  observability* obs_;
  supervisor_config cfg_;
  std::shared_ptr<ipc::marker_store> marker_;  // the marker's one owner (dedicated_transports share it)
  engine_state state_;
  std::optional<host::mutator> host_;  // the supervisor's own view
  std::unique_ptr<host::drift_watch> drift_;  // after host_: stopped before it goes
  std::string host_error_;
  std::shared_ptr<overlay::global_overlay> global_;
  std::map<std::string, ipc::overlay_mode> service_modes_;
  std::optional<bridge_info> shared_bridge_;
  std::map<std::string, std::shared_ptr<service_child>> services_;
  std::map<std::string, dedicated_child> dedicated_;
  std::map<uint32_t, std::string> pid_owner_;  // linux_pid attach -> its service
  std::map<std::string, guest_info> guest_attachments_;
  std::map<std::string, host_shared_info> host_shared_;
  std::optional<net::ip_address> dns_server_;
  std::optional<std::string> dns_domain_;
  std::set<std::string> dns_domains_;  // every attach's dns_domain, served beside cfg_.dns.domain
  // Shared with every incarnation of the dns actor: records survive a restart.
  std::shared_ptr<net::dns::record_store> dns_store_ = std::make_shared<net::dns::record_store>();
  std::shared_ptr<pool_client> pools_ = std::make_shared<pool_client>();
  // The allocator's pools: every incarnation of it works on these.
  std::shared_ptr<net::node_pools> pool_state_;
  gateway_actor gateway_;
  allocator_actor allocator_;
  dns_actor dns_;
  nat_orchestrator_actor nat_;
  std::shared_ptr<nat_device_link> nat_link_;  // while global_ exists
  bool stopping_ = false;
  bool keep_host_ = false;  // exit without teardown (keep_atom)
  bool adopting_ = false;   // a restart's grace period is running
  // A previous run's container attachments of services not set up again
  // yet (a service's go to its state when it is).
  std::map<std::string, std::map<uint32_t, net::attachment_record>> adoptable_;
  std::optional<std::chrono::steady_clock::time_point> last_veth_sweep_;
};
}  // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, observability* obs,
                                  supervisor_config cfg) {
  return sys.spawn<supervisor_impl, caf::detached>(obs, std::move(cfg));
}

}  // namespace overlayd::actors
