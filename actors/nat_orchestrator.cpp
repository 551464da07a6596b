#include "actors/nat_orchestrator.hpp"

#include <caf/actor_system.hpp>
#include <caf/spawn_options.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <thread>

#include "actors/nat_wire.hpp"
#include "actors/traced.hpp"
#include "crypto/keys.hpp"
#include "net/nat/relay_routes.hpp"
#include "net/nat/relay_service.hpp"
#include "net/wg/device.hpp"

namespace overlayd::actors {

namespace {
namespace nn = net::nat;
using reply = caf::result<correlation_id, ipc::response>;

// How often received datagrams are handled and the connect step runs: well
// under the planner's punch interval (500 ms) and STUN's first RTO (500 ms).
constexpr std::chrono::milliseconds poll_interval{100};
// A peer whose endpoint we move to keeps its NAT mapping open with this
// (when the agent gave none): a hole-punched path dies without traffic.
constexpr uint16_t nat_keepalive_secs = 25;
// What a punch carries: not a WireGuard message (types 1..4 little-endian),
// so the peer's device hands it to its foreign-datagram handler, which
// ignores it. Its only job is to open our NAT's mapping toward the peer.
constexpr uint8_t punch_payload[] = {0xff, 'p', 'u', 'n', 'c', 'h'};

// The built-in relay server on its own thread, for as long as this lives.
class relay_runner {
 public:
  static result<std::unique_ptr<relay_runner>> start(const nn::relay_server_config& rc) {
    auto ext = net::endpoint::parse(rc.external_addr);
    if (!ext) return error(errc::invalid_argument, "relay_server.external_addr '" + rc.external_addr + "' is not ip:port");
    nn::relay_server_options o;
    o.external_ip = ext->ip();
    o.listen_port = rc.listen_port;
    o.max_sessions = rc.max_sessions;
    o.credential = rc.auth_credential;
    auto any = ext->ip().is_v4() ? net::ip_address::parse("0.0.0.0") : net::ip_address::parse("::");
    auto svc = nn::relay_service::start(net::endpoint(*any, rc.listen_port), std::move(o));
    if (!svc) return std::move(svc).err();
    auto r = std::unique_ptr<relay_runner>(new relay_runner(std::move(*svc)));
    r->thread_ = std::thread([p = r.get()] {
      if (auto s = p->svc_.run(p->stop_); !s) spdlog::warn("relay server stopped: {}", s.err().message);
    });
    return r;
  }
  ~relay_runner() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  net::endpoint local() const { return svc_.local(); }

 private:
  explicit relay_runner(nn::relay_service s) : svc_(std::move(s)) {}
  nn::relay_service svc_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class nat_orchestrator_impl : public traced<nat_orchestrator_actor::base> {
 public:
  nat_orchestrator_impl(caf::actor_config& cfg, observability* obs)
      : traced(cfg, obs, "nat_orchestrator"), obs_(obs) {}

  behavior_type make_behavior() override {
    return {
        [this](nat_tick_atom, correlation_id c) -> reply { return {c, tick()}; },
        [this](nat_stat_atom, correlation_id c) -> reply { return {c, ipc::resp::nat_status{status_wire()}}; },
        [this](nat_setup_atom, nat_setup& s) { setup(std::move(s)); },
        [this](nat_peer_atom, nat_peer_update& u) { peer(std::move(u)); },
        [this](nat_poll_atom, uint32_t gen) {
          if (gen != gen_ || !nat_) return;
          poll();
          delayed_send(this, poll_interval, nat_poll_atom::value, gen_);
        },
        [this](nat_rfsh_atom, uint32_t gen) {
          if (gen != gen_ || !nat_) return;
          refresh();
          delayed_send(this, config_.stun_refresh_interval, nat_rfsh_atom::value, gen_);
        },
    };
  }

  void on_exit() override { stop_nat(); }

 private:
  // ---- supervisor's news ----------------------------------------------------

  void setup(nat_setup s) {
    if (!s.up) {
      stop_nat();
      link_.reset();
      return;
    }
    config_ = nat_config_from_spec(s.nat, s.legacy_nat_enabled);
    if (s.direct_retry.count() > 0) config_.direct_retry = s.direct_retry;
    listen_port_ = s.listen_port;
    // A new device (teardown + setup) means a new NAT instance on its socket;
    // a config that turns NAT off stops it now (a changed one applies when
    // NAT next starts).
    if (link_ != s.link || !config_.enabled) stop_nat();
    link_ = std::move(s.link);
  }

  void peer(nat_peer_update u) {
    if (u.candidates.empty()) {
      peers_.erase(u.public_key);
      if (nat_) nat_->remove_peer(u.public_key);
      publish_attempts();
      return;
    }
    auto cs = candidates_from_wire(u.candidates);
    if (!cs) {
      spdlog::warn("nat: peer {}: {}", u.public_key, cs.err().message);
      return;
    }
    if (peers_.size() >= nn::connect_planner::max_peers && !peers_.count(u.public_key)) {
      spdlog::warn("nat: peer {} ignored: already {} peers", u.public_key, peers_.size());
      return;
    }
    peers_[u.public_key] = *cs;
    if (nat_)
      if (auto r = nat_->set_peer(u.public_key, *cs); !r) spdlog::warn("nat: peer {}: {}", u.public_key, r.err().message);
  }

  // ---- nat_tick -------------------------------------------------------------

  ipc::response tick() {
    if (!config_.enabled || !link_) return ipc::resp::ok{};
    if (!nat_) {
      if (auto r = start_nat(); !r) return ipc::resp::err{"overlay engine error: NAT maintenance tick failed: " + r.err().message};
    }
    refresh();
    // NAT goes on without it, but the agent must hear that the relay it
    // configured is not running, on every tick until the config is fixed.
    if (!relay_refused_.empty())
      return ipc::resp::err{"overlay engine error: built-in relay server not started: " + relay_refused_};
    return ipc::resp::ok{};
  }

  status start_nat() {
    relay_refused_.clear();
    if (config_.relay_server && !relay_) {
      // Once per orchestrator; a failure is logged and NAT goes on (seed).
      auto r = relay_runner::start(*config_.relay_server);
      if (!r && r.err().code == errc::invalid_argument &&
          config_.relay_server->auth_credential.empty()) {
        relay_refused_ = r.err().message;
        spdlog::error("built-in relay server not started: {}", relay_refused_);
      } else if (!r) {
        spdlog::warn("built-in relay server failed to start: {}", r.err().message);
      } else {
        relay_ = std::move(r).value();
        spdlog::info("built-in relay server on {} (external {})", relay_->local().to_string(),
                     config_.relay_server->external_addr);
      }
    }
    nn::nat_traversal_options o;
    o.config = config_;
    o.listen_port = listen_port_;
    // Our relay as a client: the cluster's relay at relay_server.external_addr
    // (see the header), keyed with the cluster credential.
    // A bad address is logged and NAT goes on without it (as for the server).
    if (config_.relay_server) {
      if (auto ext = net::endpoint::parse(config_.relay_server->external_addr)) {
        o.relay = *ext;
        o.relay_credential = config_.relay_server->auth_credential;
      } else {
        spdlog::warn("nat: no relay client: relay_server.external_addr '{}' is not ip:port",
                     config_.relay_server->external_addr);
      }
    }
    auto n = nn::nat_traversal::create(std::move(o));
    if (!n) return std::move(n).err();
    nat_ = std::move(n).value();
    routes_ = std::make_shared<nn::relay_routes>();
    for (const auto& [k, cs] : peers_)
      if (auto r = nat_->set_peer(k, cs); !r) spdlog::warn("nat: peer {}: {}", k, r.err().message);
    {
      std::lock_guard lock(link_->mu);
      if (link_->device) {
        link_->device->set_foreign_datagram_handler(
            [l = link_](std::span<const uint8_t> d, const net::endpoint& from) {
              l->push({from, nn::bytes(d.begin(), d.end())});
            });
        link_->device->set_relay_hook(routes_);
      }
    }
    ++gen_;
    delayed_send(this, poll_interval, nat_poll_atom::value, gen_);
    delayed_send(this, config_.stun_refresh_interval, nat_rfsh_atom::value, gen_);
    spdlog::info("NAT traversal started on port {} ({} STUN servers, {} TURN servers, relay client {}, {} peers "
                 "with candidates)",
                 listen_port_, config_.stun_servers.size(), config_.turn_servers.size(),
                 o.relay ? o.relay->to_string() : "off", peers_.size());
    return {};
  }

  void stop_nat() {
    ++gen_;  // pending timers of this instance become no-ops
    if (nat_ && link_) {
      std::lock_guard lock(link_->mu);
      if (link_->device) {
        link_->device->set_foreign_datagram_handler(nullptr);
        link_->device->set_relay_hook(nullptr);
      }
    }
    nat_.reset();
    routes_.reset();
    relay_.reset();
    if (link_) (void)link_->take();
  }

  void refresh() {
    auto ifs = nn::list_interface_addresses();
    if (!ifs) spdlog::warn("nat: listing interfaces: {}", ifs.err().message);
    nat_->refresh(ifs ? *ifs : std::vector<nn::interface_address>{}, nn::nat_clock::now());
    poll();  // the first STUN requests go out now, not a poll interval later
  }

  // ---- the poll timer -------------------------------------------------------

  void poll() {
    const auto now = nn::nat_clock::now();
    for (auto& d : link_->take()) (void)nat_->on_datagram(d.from, d.data, now);
    std::lock_guard lock(link_->mu);
    wg::device* dev = link_->device;
    if (!dev) return;
    for (const auto& d : nat_->poll(now))
      if (auto r = dev->send_raw(d.data, d.to); !r) spdlog::debug("nat: send to {}: {}", d.to.to_string(), r.err().message);
    auto acts = nat_->connect_tick(now, [&](const std::string& peer) {
      auto k = crypto::public_key_from_base64(peer);
      if (!k) return nn::handshake_info{};
      auto st = dev->peer(*k);
      if (!st) return nn::handshake_info{};
      return handshake_info_of(st->last_handshake, st->endpoint, now);
    });
    // Binds and allocations may have changed: the device's relayed data
    // path follows (a new table only when something changed).
    if (auto r = nat_->relay_routes(); r != routes_->routes()) {
      spdlog::info("nat: {} relayed route(s)", r.size());
      routes_->set(std::move(r));
    }
    for (const auto& a : acts) act(*dev, a);
    // Outcomes change without actions (a handshake seen, a deadline passed):
    // publish on actions and at least once a second.
    if (!acts.empty() || now.mono - published_ >= std::chrono::seconds(1)) {
      publish_attempts();
      published_ = now.mono;
    }
  }

  void act(wg::device& dev, const nn::connect_action& a) {
    auto k = crypto::public_key_from_base64(a.peer);
    if (!k) return;
    switch (a.what) {
      case nn::connect_action::kind::set_endpoint: {
        wg::peer_update u;
        u.key = *k;
        u.update_only = true;
        u.endpoint = a.to;
        if (auto r = dev.upsert_peer(u); !r) spdlog::debug("nat: endpoint of {}: {}", a.peer, r.err().message);
        break;
      }
      case nn::connect_action::kind::initiate_handshake: {
        // A real initiation even when a session exists (a relayed peer
        // retrying direct): success is a completed handshake on the new path.
        // The persistent keepalive holds the NAT mappings afterwards.
        auto st = dev.peer(*k);
        if (!st) return;
        if (!st->persistent_keepalive) {
          wg::peer_update u;
          u.key = *k;
          u.update_only = true;
          u.persistent_keepalive = nat_keepalive_secs;
          (void)dev.upsert_peer(u);
        }
        if (auto r = dev.initiate_handshake(*k, a.to); !r)
          spdlog::debug("nat: initiate to {}: {}", a.peer, r.err().message);
        break;
      }
      case nn::connect_action::kind::punch:
        // Low TTL (see device::send_raw): opens our mapping, never reaches
        // the far NAT.
        (void)dev.send_raw(punch_payload, a.to, nn::punch_ttl);
        break;
      case nn::connect_action::kind::bind_relay:
        // nat_traversal::connect_tick already asked our relay / TURN to bind;
        // the route reaches the device above, before the set_endpoint that
        // follows in the same batch.
        spdlog::info("nat: peer {} falls back to relay candidate {}", a.peer, a.to.to_string());
        break;
    }
  }

  // ---- nat_status -----------------------------------------------------------

  ipc::nat_status_wire status_wire() {
    if (!nat_) return {};
    auto v = nat_->snapshot();
    std::unique_lock lock(link_->mu);
    wg::device* dev = link_->device;
    return nat_status_to_wire(v, [&](const std::string& peer) -> std::optional<net::endpoint> {
      if (!dev) return std::nullopt;
      auto k = crypto::public_key_from_base64(peer);
      if (!k) return std::nullopt;
      auto st = dev->peer(*k);
      return st ? st->endpoint : std::nullopt;
    });
  }

  void publish_attempts() {
    if (!nat_) {
      obs_->set_nat_attempts("[]");
      obs_->set_nat_mapping(R"({"mapping":"unknown","problems":[]})");
      types_.clear();
      return;
    }
    auto v = nat_->snapshot();
    obs_->set_nat_attempts(nat_attempts_json(v, nn::steady::now()));
    obs_->set_nat_mapping(nat_mapping_json(v));
    if (v.mapping != mapping_) {
      mapping_ = v.mapping;
      spdlog::info("nat: mapping behaviour {}", nn::to_string(mapping_));
    }
    // Log each peer's connection type when it changes, with the reason.
    std::map<std::string, nn::connection_type> now_types;
    for (const auto& p : v.peers) {
      if (!p.type) continue;
      now_types[p.peer] = *p.type;
      auto it = types_.find(p.peer);
      if (it != types_.end() && it->second == *p.type) continue;
      spdlog::info("nat: peer {} {} ({})", p.peer, nn::to_string(*p.type),
                   p.log.empty() ? std::string("-") : p.log.back().reason);
    }
    types_ = std::move(now_types);  // bounded by the planner's peers
  }

  observability* obs_;
  nn::nat_config config_ = nn::default_nat_config();
  uint16_t listen_port_ = 0;
  std::shared_ptr<nat_device_link> link_;
  std::map<std::string, std::vector<nn::candidate>> peers_;  // bounded by connect_planner::max_peers
  std::unique_ptr<nn::nat_traversal> nat_;
  std::shared_ptr<nn::relay_routes> routes_;  // the device's relay hook while NAT runs
  std::unique_ptr<relay_runner> relay_;
  std::string relay_refused_;  // why the configured relay was refused; empty = not refused
  uint32_t gen_ = 0;
  nn::steady::time_point published_{};  // last publish_attempts from poll()
  nn::nat_mapping mapping_ = nn::nat_mapping::unknown;  // last logged
  std::map<std::string, nn::connection_type> types_;  // as last logged
};
}  // namespace

nat_orchestrator_actor spawn_nat_orchestrator(caf::actor_system& sys, observability* obs) {
  return sys.spawn<nat_orchestrator_impl, caf::detached>(obs);
}

}  // namespace overlayd::actors
