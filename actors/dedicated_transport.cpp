#include "actors/dedicated_transport.hpp"

#include <caf/actor_system.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "actors/traced.hpp"
#include "ipc/marker.hpp"
#include "net/host/mutator.hpp"
#include "net/names.hpp"

namespace overlayd::actors {

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

ipc::response engine_error(const std::string& what) {
  return ipc::resp::err{"overlay engine error: " + what};
}

class dedicated_transport_impl : public traced<dedicated_transport_actor::base> {
 public:
  dedicated_transport_impl(caf::actor_config& cfg, observability* obs,
                           std::shared_ptr<dedicated_state> st, std::shared_ptr<host::mutator> host,
                           std::shared_ptr<const pool_client> pools)
      : traced(cfg, obs, "dedicated_transport"),
        st_(std::move(st)),
        host_(std::move(host)),
        pools_(std::move(pools)) {}

  behavior_type make_behavior() override {
    rebuild_after_crash();
    return {
        [this](ded_up_atom, correlation_id c, const service_context& ctx)
            -> caf::result<correlation_id, dedicated_up> { return {c, bring_up(ctx)}; },
        [this](ded_peer_atom, correlation_id c, const ipc::request& r)
            -> caf::result<correlation_id, ipc::response> { return {c, peer_op(r)}; },
        [this](ded_down_atom, correlation_id c, bool forget_identity)
            -> caf::result<correlation_id, ipc::response> {
          shut_down(forget_identity);
          return {c, ipc::resp::ok{}};
        },
        [this](crash_atom, correlation_id) -> caf::result<correlation_id, ipc::response> {
          // Testing hook: a real crash, through CAF's exception path.
          throw std::runtime_error("dedicated_transport " + st_->service + ": crash requested");
        },
    };
  }

 private:
  pool_reply ask(pool_request r) { return pools_->ask(system(), std::move(r)); }

  // A previous incarnation crashed while the device was up: rebuild it from
  // the marker (same key, port, interface) and replay its peers.
  void rebuild_after_crash() {
    if (!st_->up_with) return;
    st_->restarts.fetch_add(1);
    const service_context ctx = *st_->up_with;
    spdlog::warn("dedicated_transport {}: restarted; rebuilding its device from the marker", st_->service);
    shut_device();
    st_->up_with.reset();
    auto r = bring_up(ctx);
    if (r.failure) {
      spdlog::error("dedicated_transport {}: rebuild failed: {}", st_->service, r.failure->message);
      return;
    }
    auto d = st_->published();
    for (auto& [key, p] : st_->peers)
      if (auto s = d->upsert_peer(p); !s)
        spdlog::warn("dedicated_transport {}: peer {} not restored: {}", st_->service, key, s.err().message);
  }

  // The seed's setup_service_overlay_dedicated, device half. Idempotent.
  dedicated_up bring_up(const service_context& ctx) {
    if (auto d = st_->published()) return describe(*d);
    const std::string& svc = st_->service;
    dedicated_up out;
    // Identity: reused from the marker when complete, else minted.
    auto loaded = st_->marker->read();
    // Unreadable (not malformed: that is moved aside): minting a new identity
    // now could later overwrite the keys it holds.
    if (!loaded) return fail(std::move(loaded).err());
    const ipc::network_marker& marker = *loaded;
    const std::string owner = ipc::network_marker::owner_for_service(svc);
    overlay::dedicated_spec spec;
    spec.uapi_dir = ctx.uapi_dir;
    spec.pin_threads = ctx.pin_threads;
    spec.mtu = ctx.mtu;
    std::optional<uint16_t> port;
    const auto* rec = marker.get(owner);
    if (rec && rec->wg_private_key && rec->wg_public_key && rec->wg_port && rec->interface) {
      if (auto k = crypto::private_key_from_base64(*rec->wg_private_key); k) {
        spec.private_key = crypto::private_key(k->span());
        port = *rec->wg_port;
        spec.interface = *rec->interface;
        ask(pool::reserve_port{ctx.port_base, *port});
      } else {
        spdlog::warn("service {}: marker key unreadable ({}); minting a new identity", svc, k.err().message);
      }
    }
    if (!port) {
      // Ports other services recorded in the marker stay theirs (a restarted
      // daemon re-binds them when those services come back).
      for (const auto& n : marker.networks())
        if (n.owner != owner && n.wg_port) ask(pool::reserve_port{ctx.port_base, *n.wg_port});
      auto p = ask(pool::allocate_port{ctx.port_base});
      if (p.failure) return fail(*p.failure);
      port = *p.port;
      spec.private_key = crypto::generate_private_key();
      spec.interface = net::make_interface_name({ctx.deployment, ctx.instance_id, svc}, "d");
    }
    spec.port = *port;
    // The subnet from the registry every mode uses (idempotent per key).
    auto sub = ask(pool::assign_subnet{svc, ctx.node_key});
    if (sub.failure) {
      ask(pool::release_port{*port});
      return fail(error(sub.failure->code, "ServiceSubnetRegistry::assign(" + svc + ", " + ctx.node_key +
                                               ") failed: " + sub.failure->message));
    }
    spec.subnet = *sub.subnet;
    spec.overlay_ip = sub.subnet->normalized().network().plus(1);  // first usable
    auto d = overlay::dedicated_overlay::bring_up(spec, *host_);
    if (!d) {
      ask(pool::release_port{*port});
      ask(pool::release_subnet{svc, ctx.node_key});
      return fail(error(d.err().code, "Failed to create dedicated overlay for " + svc + ": " + d.err().message));
    }
    std::shared_ptr<overlay::dedicated_overlay> dev = std::move(d).value();
    // Persist the identity before answering: a device whose key is on no
    // disk would come back with another key after a restart, and its peers
    // would stop working. A failed write (full disk) undoes the bring-up and
    // answers err; the marker keeps its old content.
    ipc::managed_network rec_new{owner, "wg-dedicated", dev->interface(), dev->public_key_base64(),
                                 dev->subnet().to_string(), dev->port(),
                                 crypto::key_to_base64(spec.private_key.span()), dev->public_key_base64(),
                                 dev->interface()};
    if (auto r = st_->marker->update([&](ipc::network_marker& m) {
          m.upsert(rec_new);
          return true;
        });
        !r) {
      dev.reset();
      ask(pool::release_port{*port});
      ask(pool::release_subnet{svc, ctx.node_key});
      return fail(error(r.err().code, "service " + svc + ": dedicated identity not persisted, device removed: " +
                                          r.err().message));
    }
    // The local key carries this service's subnet (seed; non-fatal).
    if (ctx.local_wg_pubkey)
      if (auto k = crypto::public_key_from_base64(*ctx.local_wg_pubkey); k)
        if (auto r = dev->add_allowed_ip(*k, *sub.subnet); !r)
          spdlog::debug("service {}: dedicated AllowedIPs not updated (non-fatal): {}", svc, r.err().message);
    spdlog::info("service {}: dedicated device {} port {} subnet {} overlay IP {}", svc, dev->interface(),
                 dev->port(), dev->subnet().to_string(), dev->overlay_ip().to_string());
    out = describe(*dev);
    {
      std::lock_guard lk(st_->mu);
      st_->device = std::move(dev);
    }
    st_->up_with = ctx;
    return out;
  }

  static dedicated_up describe(overlay::dedicated_overlay& d) {
    dedicated_up u;
    u.interface = d.interface();
    u.public_key = d.public_key_base64();
    u.port = d.port();
    u.overlay_ip = d.overlay_ip();
    u.subnet = d.subnet();
    return u;
  }

  static dedicated_up fail(error e) {
    dedicated_up u;
    u.failure = std::move(e);
    return u;
  }

  // Destroys the device on this thread: readers (status) hold copies only for
  // the length of one call, so wait for them (bounded) before the device's
  // destructor touches this actor's netlink socket.
  void shut_device() {
    std::shared_ptr<overlay::dedicated_overlay> d;
    {
      std::lock_guard lk(st_->mu);
      d = std::move(st_->device);
    }
    if (!d) return;
    for (int i = 0; i < 2000 && d.use_count() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    d.reset();
  }

  void shut_down(bool forget_identity) {
    if (auto d = st_->published()) ask(pool::release_port{d->port()});
    shut_device();
    st_->up_with.reset();
    st_->peers.clear();
    ask(pool::set_routed{"dedicated:" + st_->service, {}});
    if (!forget_identity) return;
    // teardown_service_overlay: the identity goes with the service.
    const std::string owner = ipc::network_marker::owner_for_service(st_->service);
    if (auto r = st_->marker->update([&](ipc::network_marker& m) { return m.remove(owner); }); !r)
      spdlog::warn("service {}: marker entry not removed: {}", st_->service, r.err().message);
  }

  ipc::response peer_op(const ipc::request& r) {
    auto d = st_->published();
    if (!d) return ipc::resp::err{"no dedicated overlay for service " + st_->service};
    return std::visit(
        overloaded{
            [&](const ipc::req::add_peer& m) -> ipc::response {
              const auto& p = m.peer;
              auto pc = overlay::parse_peer(p.public_key, p.endpoint, p.allowed_ips, p.persistent_keepalive_secs);
              if (!pc) return ipc::resp::err{pc.err().message};
              if (!st_->peers.count(p.public_key) && st_->peers.size() >= max_dedicated_peers)
                return ipc::resp::err{"too many peers on dedicated overlay " + st_->service + " (limit " +
                                      std::to_string(max_dedicated_peers) + ")"};
              if (auto why = route_conflict("add_peer", p.public_key, pc->allowed_ips)) return ipc::resp::err{*why};
              note_moves(*d, pc->key, pc->allowed_ips);
              if (auto s = d->upsert_peer(*pc); !s) return engine_error("add_peer failed: " + s.err().message);
              st_->peers[p.public_key] = *pc;
              publish_routes(*d);
              return ipc::resp::ok{};
            },
            [&](const ipc::req::remove_peer& m) -> ipc::response {
              auto k = crypto::public_key_from_base64(m.pubkey);
              if (!k) return ipc::resp::err{"invalid public key " + m.pubkey};
              if (auto s = d->remove_peer(*k); !s) return engine_error("remove_peer failed: " + s.err().message);
              st_->peers.erase(m.pubkey);
              publish_routes(*d);
              return ipc::resp::ok{};
            },
            [&](const ipc::req::add_allowed_ip& m) { return allowed_ip(*d, m.pubkey, m.cidr, true); },
            [&](const ipc::req::remove_allowed_ip& m) { return allowed_ip(*d, m.pubkey, m.cidr, false); },
            [&](const auto&) -> ipc::response {
              return ipc::resp::err{std::string(ipc::op_name(r)) + " is not a dedicated-transport operation"};
            },
        },
        r);
  }

  ipc::response allowed_ip(overlay::dedicated_overlay& d, const std::string& pubkey, const std::string& cidr,
                           bool add) {
    auto k = crypto::public_key_from_base64(pubkey);
    if (!k) return ipc::resp::err{"invalid public key " + pubkey};
    auto c = net::cidr::parse(cidr);
    if (!c) return ipc::resp::err{"invalid CIDR " + cidr + ": " + c.err().message};
    if (add) {
      if (auto why = route_conflict("add_allowed_ip", pubkey, {*c})) return ipc::resp::err{*why};
      note_moves(d, *k, {*c});
    }
    auto s = add ? d.add_allowed_ip(*k, *c) : d.remove_allowed_ip(*k, *c);
    if (!s) return engine_error(std::string(add ? "add" : "remove") + "_allowed_ip failed: " + s.err().message);
    publish_routes(d);
    if (auto it = st_->peers.find(pubkey); it != st_->peers.end()) {
      auto& ips = it->second.allowed_ips;
      std::erase(ips, *c);
      if (add) ips.push_back(*c);
    }
    return ipc::resp::ok{};
  }

  // As on the global device (supervisor.cpp): a route covering a local
  // service subnet or the node slice is refused; a CIDR moving between
  // peers is counted; the allocator learns what this device routes.
  std::optional<std::string> route_conflict(const std::string& op, const std::string& key,
                                            const std::vector<net::cidr>& cidrs) {
    const std::string node = st_->up_with ? st_->up_with->node_key : std::string("0");
    auto r = ask(pool::route_check{cidrs, node});
    if (!r.failure) return std::nullopt;
    return op + " " + key + " on dedicated overlay " + st_->service + ": refused: " + r.failure->message;
  }

  void note_moves(const overlay::dedicated_overlay& d, const crypto::public_key& to,
                  const std::vector<net::cidr>& cidrs) {
    for (const auto& [c, from] : overlay::cidr_moves(d.device(), to, cidrs)) {
      obs().counters().allowed_ip_moves.fetch_add(1);
      spdlog::warn("allowed IP {} moves from peer {} to peer {} on {}", c.to_string(),
                   crypto::key_to_base64(from.span()), crypto::key_to_base64(to.span()), d.interface());
    }
  }

  void publish_routes(const overlay::dedicated_overlay& d) {
    ask(pool::set_routed{"dedicated:" + st_->service, overlay::routed_cidrs(d.device())});
  }

  std::shared_ptr<dedicated_state> st_;
  std::shared_ptr<host::mutator> host_;
  std::shared_ptr<const pool_client> pools_;
};

}  // namespace

dedicated_transport_actor spawn_dedicated_transport(caf::actor_system& sys, observability* obs,
                                                    std::shared_ptr<dedicated_state> st,
                                                    std::shared_ptr<host::mutator> host,
                                                    std::shared_ptr<const pool_client> pools) {
  return sys.spawn<dedicated_transport_impl, caf::detached>(obs, std::move(st), std::move(host), std::move(pools));
}

}  // namespace overlayd::actors
