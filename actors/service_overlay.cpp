#include "actors/service_overlay.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "core/atomic_file.hpp"

#include "actors/traced.hpp"
#include "net/host/mutator.hpp"
#include "net/names.hpp"
#include "net/netlink/link.hpp"
#include "net/overlay/global_overlay.hpp"
#include "net/overlay/plumbing.hpp"

namespace overlayd::actors {

namespace {

using reply = caf::result<correlation_id, ipc::response>;

ipc::response engine_error(const std::string& what) {
  return ipc::resp::err{"overlay engine error: " + what};
}

class service_overlay_impl : public traced<service_overlay_actor::base> {
 public:
  service_overlay_impl(caf::actor_config& cfg, observability* obs, std::shared_ptr<service_state> st,
                       std::shared_ptr<host::mutator> host, std::shared_ptr<const pool_client> pools)
      : traced(cfg, obs, "service_overlay"), st_(std::move(st)), host_(std::move(host)), pools_(std::move(pools)) {}

  behavior_type make_behavior() override {
    return {
        [this](svc_setup_atom, correlation_id c, const service_context& ctx, ipc::overlay_mode mode,
               const dedicated_transport_actor& ded) -> reply { return {c, setup(ctx, mode, ded)}; },
        [this](svc_attach_atom, correlation_id c, const service_context& ctx,
               const ipc::req::attach_container& m) -> reply { return {c, attach(ctx, m)}; },
        [this](svc_detach_atom, correlation_id c, uint32_t pid) -> reply { return {c, detach(pid)}; },
        [this](adopt_end_atom, correlation_id c) -> caf::result<correlation_id, std::vector<std::string>> {
          return {c, end_adoption()};
        },
        [this](svc_down_atom, correlation_id c, const service_context& ctx, teardown_kind k,
               const dedicated_transport_actor&) -> reply {
          teardown(ctx, k);
          return {c, ipc::resp::ok{}};
        },
        [this](stall_atom, correlation_id c, const std::shared_ptr<stall_gate>& g) -> reply {
          g->entered.set_value();
          if (g->release.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
            return {c, engine_error("stall gate never released")};
          return {c, ipc::resp::ok{}};
        },
        [this](crash_atom, correlation_id) -> reply {
          // Testing hook: a real crash, through CAF's exception path.
          throw std::runtime_error("service_overlay " + st_->service + ": crash requested");
        },
    };
  }

 private:
  const std::string& svc() const { return st_->service; }
  pool_reply ask(pool_request r) { return pools_->ask(system(), std::move(r)); }

  std::string bridge_name(const service_context& ctx) const {
    return net::make_interface_name({ctx.deployment, ctx.instance_id, svc()}, "b");
  }

  // ---- setup (seed: setup_service_overlay) -----------------------------------

  ipc::response setup(const service_context& ctx, ipc::overlay_mode mode, const dedicated_transport_actor& ded) {
    // The mode is recorded before any host work (seed): attach uses it.
    st_->mode = mode;
    st_->last_ctx = ctx;
    if (ipc::uses_per_service_wg(mode)) return setup_dedicated(ctx, ded);
    if (ipc::uses_shared_bridge(mode)) {
      if (!ctx.shared_bridge) return engine_error("shared bridge missing for Shared-mode service " + svc());
      ask(pool::bind{svc(), ctx.shared_bridge->name});
      st_->shared = ctx.shared_bridge;
      st_->up = true;
      reserve_adoptable();
      return ipc::resp::service_overlay{{ctx.shared_bridge->name, ipc::overlay_mode::shared}};
    }
    // auto and isolated: a per-service bridge (isolation is fenced at attach).
    if (st_->bridge) {
      reserve_adoptable();
      return ipc::resp::service_overlay{{st_->bridge->name, ipc::overlay_mode::auto_}};
    }
    auto sub = ask(pool::assign_subnet{svc(), ctx.node_key});
    if (sub.failure)
      return engine_error("ServiceSubnetRegistry::assign(" + svc() + ", " + ctx.node_key +
                          ") failed: " + sub.failure->message);
    const std::string name = bridge_name(ctx);
    auto b = make_bridge(name, *sub.subnet);
    if (!b) {
      ask(pool::release_subnet{svc(), ctx.node_key});
      return engine_error(b.err().message);
    }
    st_->bridge = *b;
    st_->up = true;
    ask(pool::bind{svc(), name});
    // The cluster device carries this service's cross-node traffic: plumb the
    // subnet into the local key's AllowedIPs when the agent told us our key.
    if (ctx.local_wg_pubkey && ctx.global)
      if (auto k = crypto::public_key_from_base64(*ctx.local_wg_pubkey); k)
        if (auto r = ctx.global->add_allowed_ip(*k, *sub.subnet); !r)
          spdlog::debug("service {}: cluster AllowedIPs not updated: {}", svc(), r.err().message);
    spdlog::info("service {}: bridge {} subnet {}", svc(), name, sub.subnet->to_string());
    reserve_adoptable();
    return ipc::resp::service_overlay{{name, ipc::overlay_mode::auto_}};
  }

  // The device from the service's dedicated_transport, then the per-service
  // bridge over the same subnet (net/overlay/dedicated.hpp: how it is routed).
  ipc::response setup_dedicated(const service_context& ctx, const dedicated_transport_actor& ded) {
    if (!ded) return engine_error("no dedicated transport for service " + svc());
    dedicated_up up;
    up.failure = error(errc::internal, "dedicated_transport did not answer");
    {
      caf::scoped_actor self{system()};
      self->request(ded, std::chrono::seconds(30), ded_up_atom::value, correlation_id{0}, ctx)
          .receive([&](correlation_id, dedicated_up& u) { up = std::move(u); },
                   [&](caf::error& e) { up.failure = error(errc::internal, "dedicated_transport: " + caf::to_string(e)); });
    }
    if (up.failure) return engine_error(up.failure->message);
    if (!st_->bridge) {
      const std::string name = bridge_name(ctx);
      auto b = make_bridge(name, up.subnet);
      if (!b) return engine_error(b.err().message);  // the supervisor shuts the device on retire
      st_->bridge = *b;
      ask(pool::bind{svc(), name});
    }
    st_->up = true;
    reserve_adoptable();
    ipc::service_overlay_info i;
    i.name = st_->bridge->name;
    i.mode = ipc::overlay_mode::dedicated;
    i.wg_public_key = up.public_key;
    i.wg_port = up.port;
    i.overlay_ip = up.overlay_ip;
    i.subnet = up.subnet.to_string();
    return ipc::resp::service_overlay{std::move(i)};
  }

  result<bridge_info> make_bridge(const std::string& name, const net::cidr& subnet) {
    bridge_info b{name, subnet.normalized(), subnet.normalized().network().plus(1)};
    if (auto r = overlay::create_bridge(*host_, name, net::cidr(b.gateway, subnet.prefix_len())); !r)
      return error(r.err().code, "create_bridge(" + name + ") failed: " + r.err().message);
    ask(pool::open{name, b.subnet});
    return b;
  }

  // ---- teardown (seed: teardown_service_overlay) ------------------------------

  void teardown(const service_context& ctx, teardown_kind kind) {
    st_->up = false;
    ask(pool::unbind{svc()});
    if (kind == teardown_kind::global || kind == teardown_kind::pruned) {
      // The links are the journal's (global) or already gone (pruned).
      if (st_->bridge) ask(pool::close{st_->bridge->name});
      st_->bridge.reset();
      st_->shared.reset();
      if (kind == teardown_kind::global) {
        st_->attached.clear();
        st_->adoptable.clear();
        persist_or_warn();
        st_->last_ctx.reset();  // drops its reference to the global device
      }
      return;
    }
    // The shared bridge lives until global teardown; whatever an earlier
    // mode of this service made goes, whatever the current mode (seed: the
    // teardown does not branch on the mode).
    st_->shared.reset();
    // By its deterministic name even when nothing is in memory (seed).
    const std::string name = st_->bridge ? st_->bridge->name : bridge_name(ctx);
    if (st_->bridge && ctx.global && ctx.local_wg_pubkey)
      if (auto k = crypto::public_key_from_base64(*ctx.local_wg_pubkey); k)
        (void)ctx.global->remove_allowed_ip(*k, st_->bridge->subnet);
    if (auto d = host_->delete_link(name); !d && d.err().code != errc::not_found)
      spdlog::warn("delete bridge {}: {}", name, d.err().message);
    ask(pool::close{name});
    ask(pool::release_subnet{svc(), ctx.node_key});
    st_->bridge.reset();
    // Its containers' veths went with its own bridge (a shared-bridge
    // service's stay on the node bridge and are still its).
    if (!ipc::uses_shared_bridge(st_->mode)) {
      st_->attached.clear();
      st_->adoptable.clear();
      persist_or_warn();
    }
  }

  // ---- linux_pid attach (seed: attach_container_linux) ------------------------

  ipc::response attach(const service_context& ctx, const ipc::req::attach_container& m) {
    const auto* h = std::get_if<ipc::linux_pid>(&m.handle);
    if (!h) return engine_error("service_overlay serves linux_pid attachments only");
    const uint32_t pid = h->pid;
    st_->last_ctx = ctx;
    const bridge_info* bridge = nullptr;
    if (ipc::uses_shared_bridge(st_->mode)) {
      if (!st_->shared)
        return ipc::resp::err{"no shared bridge for Shared-mode service " + svc() + "; call setup_service_overlay() first"};
      bridge = &*st_->shared;
    } else {
      if (!st_->bridge)
        return ipc::resp::err{"no service bridge for service " + svc() + "; call setup_service_overlay() first"};
      bridge = &*st_->bridge;
    }
    // A container a previous run attached: adopted as it is, same addresses.
    if (auto ad = st_->adoptable.find(pid); ad != st_->adoptable.end()) {
      const net::attachment_record rec = ad->second;
      st_->adoptable.erase(ad);
      if (auto r = adopt(ctx, m, *bridge, rec); r) {
        persist_or_warn();
        return ipc::resp::attached{{rec.service_ip, std::nullopt}};
      } else {
        spdlog::warn("service {}: pid {} attached by a previous run is attached afresh: {}", svc(), pid,
                     r.err().message);
        drop_adoptable(pid, rec);
      }
    }
    // The agent retrying after a lost reply: the same answer. Its veth must
    // still be there (a container that died and whose pid came back is a
    // new container: its stale record goes, and it is attached afresh).
    if (auto it = st_->attached.find(pid); it != st_->attached.end()) {
      if (netlink::get_link(host_->netlink(), overlay::veth_host_name(pid, "s")).ok())
        return ipc::resp::attached{{it->second.service_ip, std::nullopt}};
      const attach_info stale = it->second;
      st_->attached.erase(it);
      forget(pid, stale);
    }
    if (st_->attached.size() >= max_service_attachments)
      return ipc::resp::err{"too many attachments on service " + svc() + " (limit " +
                            std::to_string(max_service_attachments) + ")"};
    // The service is bound to its bridge's pool (setup did it).
    auto ip = ask(pool::allocate{svc()});
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
    attach_info info{*ip.ip, std::nullopt, m.ephemeral, m.isolation_network,
                     [&] {
                       auto n = net::netns_identity(pid);
                       return n ? *n : std::string();
                     }()};
    if (m.join_global && ctx.global) {
      auto g = ask(pool::allocate_slice{});
      if (g.failure) {
        rollback(pid, info);
        return engine_error(g.failure->message);
      }
      overlay::veth_attach ga;
      ga.pid = pid;
      ga.ip = *g.ip;
      ga.prefix = g.ip->is_v4() ? 24 : 64;  // seed: no bridge → /24 or /64
      ga.tag = "g";
      ga.container_iface = "eth1";
      ga.route_src = ctx.global->node_ip();
      if (auto r = overlay::attach_veth(*host_, ga); !r) {
        ask(pool::release{*g.ip});
        rollback(pid, info);
        return engine_error(r.err().message);
      }
      info.global_ip = *g.ip;
    }
    if (m.isolation_network) {
      // Fails closed: a member the fence cannot hold is not attached at all.
      const net::ip_address fence_ip = ctx.global ? ctx.global->node_ip() : bridge->gateway;
      const net::cidr cluster = ctx.cluster.value_or(*net::cidr::parse("10.200.0.0/16"));
      if (auto r = host_->ensure_member_isolation(*m.isolation_network, *ip.ip, fence_ip, cluster); !r) {
        if (info.global_ip) ask(pool::release{*info.global_ip});
        rollback(pid, info);
        return engine_error("isolation network " + *m.isolation_network + " for " + ip.ip->to_string() +
                            " could not be fenced: " + r.err().message + "; the container was not attached");
      }
    }
    st_->attached[pid] = info;
    // A restart adopts only what is on disk: a container we cannot record
    // would be cut off by the next restart, so it is not attached.
    if (auto p = persist(); !p) {
      st_->attached.erase(pid);
      if (info.isolation_network) (void)host_->remove_member_isolation(*info.isolation_network, info.service_ip);
      if (info.global_ip) ask(pool::release{*info.global_ip});
      rollback(pid, info);
      return engine_error("attach pid " + std::to_string(pid) + ": recording the attachment failed: " +
                          p.err().message + "; the container was not attached");
    }
    return ipc::resp::attached{{*ip.ip, std::nullopt}};
  }

  // ---- restarts: adoption ------------------------------------------------------

  // The file of this service's attachments: live ones and adoptable ones
  // (a second crash during the grace period must not lose the latter).
  status persist() {
    if (st_->attachments_path.empty()) return {};
    net::attachment_file f;
    f.service = svc();
    for (const auto& [pid, a] : st_->attached)
      f.records.push_back({pid, a.netns, a.service_ip, a.global_ip, a.ephemeral, a.isolation_network});
    for (const auto& [pid, r] : st_->adoptable) f.records.push_back(r);
    if (f.records.empty()) {
      if (::unlink(st_->attachments_path.c_str()) != 0 && errno != ENOENT)
        return error(errc::system, "unlink " + st_->attachments_path + ": " + std::strerror(errno), errno);
      return {};
    }
    const auto dir = st_->attachments_path.substr(0, st_->attachments_path.rfind('/'));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return error(errc::system, "mkdir " + dir + ": " + std::strerror(errno), errno);
    return write_file_atomic(st_->attachments_path, net::format_attachment_file(f));
  }
  void persist_or_warn() {
    if (auto p = persist(); !p)
      spdlog::warn("service {}: attachments not recorded ({}); a restart may not adopt them", svc(),
                   p.err().message);
  }

  // Re-holds the adoptable containers' addresses in the pools, once, when
  // the service's pool exists (setup). An address someone else holds by now
  // makes its container un-adoptable: it is attached afresh if re-sent.
  void reserve_adoptable() {
    if (st_->adoptable_reserved) return;
    st_->adoptable_reserved = true;
    for (auto it = st_->adoptable.begin(); it != st_->adoptable.end();) {
      auto r = ask(pool::reserve{it->second.service_ip});
      if (!r.failure && it->second.global_ip) {
        r = ask(pool::reserve{*it->second.global_ip});
        if (r.failure) ask(pool::release{it->second.service_ip});
      }
      if (r.failure) {
        spdlog::warn("service {}: pid {} of a previous run cannot keep its address: {}", svc(), it->first,
                     r.failure->message);
        it = st_->adoptable.erase(it);
      } else {
        ++it;
      }
    }
  }

  // The same container (pid and network namespace), asking for what it
  // had, with its veths in place: claimed as it is. Nothing inside the
  // container is touched.
  status adopt(const service_context& ctx, const ipc::req::attach_container& m, const bridge_info& bridge,
               const net::attachment_record& rec) {
    if (!st_->adoptable_reserved) return error(errc::precondition, "its addresses were not re-held");
    auto ns = net::netns_identity(rec.pid);
    if (!ns || *ns != rec.netns) return error(errc::not_found, "its network namespace is not the recorded one");
    if (!bridge.subnet.contains(rec.service_ip))
      return error(errc::invalid_argument, rec.service_ip.to_string() + " is outside bridge " + bridge.name);
    if (m.isolation_network != rec.isolation_network) return error(errc::invalid_argument, "another isolation network");
    if ((m.join_global && ctx.global) != rec.global_ip.has_value())
      return error(errc::invalid_argument, "join_global differs");
    const std::string s_veth = overlay::veth_host_name(rec.pid, "s");
    const std::string g_veth = overlay::veth_host_name(rec.pid, "g");
    auto master = netlink::get_link(host_->netlink(), s_veth);
    if (!master) return error(errc::not_found, s_veth + " is gone");
    if (rec.global_ip && !netlink::get_link(host_->netlink(), g_veth))
      return error(errc::not_found, g_veth + " is gone");
    host_->claim_device(s_veth);
    if (rec.global_ip) {
      host_->claim_device(g_veth);
      OVERLAYD_TRY(host_->replace_route(net::cidr(*rec.global_ip, rec.global_ip->bits()), g_veth,
                                        ctx.global->node_ip()));
    }
    OVERLAYD_TRY(netlink::set_master(host_->netlink(), s_veth, bridge.name));
    (void)host_->enable_ipv4_forwarding();
    if (rec.service_ip.is_v6()) (void)host_->enable_ipv6_forwarding(s_veth);
    if (rec.isolation_network) {
      const net::ip_address fence_ip = ctx.global ? ctx.global->node_ip() : bridge.gateway;
      const net::cidr cluster = ctx.cluster.value_or(*net::cidr::parse("10.200.0.0/16"));
      OVERLAYD_TRY(host_->ensure_member_isolation(*rec.isolation_network, rec.service_ip, fence_ip, cluster));
    }
    st_->attached[rec.pid] = {rec.service_ip, rec.global_ip, m.ephemeral, rec.isolation_network, rec.netns};
    spdlog::info("service {}: adopted pid {} ({}) from the previous run", svc(), rec.pid, rec.service_ip.to_string());
    return {};
  }

  // An adoptable container that will not be adopted: its veths (and with
  // them its interfaces inside), its addresses and its fence go.
  void drop_adoptable(uint32_t pid, const net::attachment_record& rec) {
    overlay::detach_veths(*host_, pid);
    if (st_->adoptable_reserved) {
      ask(pool::release{rec.service_ip});
      if (rec.global_ip) ask(pool::release{*rec.global_ip});
    }
    if (rec.isolation_network) (void)host_->remove_member_isolation(*rec.isolation_network, rec.service_ip);
  }

  // The grace period is over: what was not claimed again is detached.
  std::vector<std::string> end_adoption() {
    std::vector<std::string> dropped;
    auto left = std::move(st_->adoptable);
    st_->adoptable.clear();
    for (const auto& [pid, rec] : left) {
      drop_adoptable(pid, rec);
      dropped.push_back("service " + svc() + " pid " + std::to_string(pid) + " (" + rec.service_ip.to_string() + ")");
    }
    if (!left.empty()) persist_or_warn();
    return dropped;
  }

  // Returns what a recorded attachment held (its links are already gone).
  void forget(uint32_t, const attach_info& info) {
    ask(pool::release{info.service_ip});
    persist_or_warn();
    if (info.global_ip) ask(pool::release{*info.global_ip});
    if (info.isolation_network) (void)host_->remove_member_isolation(*info.isolation_network, info.service_ip);
  }

  void rollback(uint32_t pid, const attach_info& info) {
    overlay::detach_veths(*host_, pid);
    ask(pool::release{info.service_ip});
  }

  // By name even without a record (a restarted daemon), idempotent.
  ipc::response detach(uint32_t pid) {
    overlay::detach_veths(*host_, pid);
    auto it = st_->attached.find(pid);
    if (it == st_->attached.end()) return ipc::resp::ok{};
    attach_info info = it->second;
    st_->attached.erase(it);
    forget(pid, info);
    // Ephemeral: the last leaver takes the service bridge down (the
    // supervisor then retires this service, see supervisor.cpp).
    if (info.ephemeral && st_->bridge && st_->last_ctx) {
      auto n = netlink::bridge_member_count(host_->netlink(), st_->bridge->name);
      if (n && *n == 0) {
        spdlog::info("ephemeral service {}: bridge idle after the last detach; tearing it down", svc());
        teardown(*st_->last_ctx, teardown_kind::service);
      }
    }
    return ipc::resp::ok{};
  }

  std::shared_ptr<service_state> st_;
  std::shared_ptr<host::mutator> host_;
  std::shared_ptr<const pool_client> pools_;
};

}  // namespace

service_overlay_actor spawn_service_overlay(caf::actor_system& sys, observability* obs,
                                            std::shared_ptr<service_state> st, std::shared_ptr<host::mutator> host,
                                            std::shared_ptr<const pool_client> pools) {
  return sys.spawn<service_overlay_impl, caf::detached>(obs, std::move(st), std::move(host), std::move(pools));
}

}  // namespace overlayd::actors
