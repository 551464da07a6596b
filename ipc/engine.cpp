#include "ipc/engine.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <future>

#include "actors/gateway.hpp"
#include "actors/observability.hpp"
#include "actors/supervisor.hpp"
#include "ipc/validate.hpp"
#include "net/host/data_dir.hpp"

namespace overlayd::ipc {

// One call in flight: completes exactly once, whoever gets there first (the
// actor reply, or stop() failing everything still pending).
struct pending_call {
  engine::done_fn done;
  size_t op = 0;
  std::chrono::steady_clock::time_point start;
  std::atomic<bool> fired{false};
};

struct engine::impl {
  std::optional<host::data_dir_lock> lock;  // released once every actor has exited
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  actors::supervisor_actor supervisor;
  actors::gateway_actor gateway;
};

engine::engine(engine_config cfg)
    : cfg_(std::move(cfg)),
      obs_(std::make_unique<actors::observability>(cfg_.trace_capacity)),
      impl_(std::make_unique<impl>()) {
  obs_->ring().set_enabled(cfg_.trace_enabled);
}

result<std::unique_ptr<engine>> engine::start(engine_config cfg) {
  OVERLAYD_TRY(host::prepare_data_dir(cfg.data_dir));
  auto lock = host::data_dir_lock::acquire(cfg.data_dir);
  if (!lock) return std::move(lock).err();
  return start(std::move(cfg), std::move(lock).value());
}

result<std::unique_ptr<engine>> engine::start(engine_config cfg, host::data_dir_lock lock) {
  std::unique_ptr<engine> e(new engine(std::move(cfg)));
  auto& im = *e->impl_;
  im.lock.emplace(std::move(lock));
  if (e->cfg_.worker_threads) im.cfg.set("scheduler.max-threads", e->cfg_.worker_threads);
  im.sys = std::make_unique<caf::actor_system>(im.cfg);
  actors::supervisor_config sc;
  sc.data_dir = e->cfg_.data_dir;
  sc.uapi_dir = e->cfg_.uapi_dir;
  sc.firewall_table = e->cfg_.firewall_table;
  sc.veth_sweep_period = std::chrono::seconds(std::max(1u, e->cfg_.veth_sweep_secs));
  sc.nat_direct_retry = std::chrono::seconds(e->cfg_.nat_direct_retry_secs);
  sc.wg_pin_threads = e->cfg_.wg_pin_threads;
  sc.dedicated_port_base = e->cfg_.dedicated_port_base;
  sc.wg_mtu = e->cfg_.wg_mtu;
  sc.restart_grace = std::chrono::seconds(e->cfg_.restart_grace_secs);
  sc.dns.domain = e->cfg_.dns_domain;
  sc.dns.ttl = std::chrono::seconds(e->cfg_.dns_ttl_secs);
  sc.dns.listen = e->cfg_.dns_listen;
  sc.dns.upstreams = e->cfg_.dns_upstreams;
  sc.dns.recursion_allow = e->cfg_.dns_allow;
  im.supervisor = actors::spawn_supervisor(*im.sys, e->obs_.get(), std::move(sc));
  im.gateway = actors::spawn_gateway(*im.sys, e->obs_.get(), im.supervisor);
  // Wait until the supervisor has spawned its children and told the gateway:
  // after this reply every later request finds its route.
  caf::scoped_actor self{*im.sys};
  bool ready = false;
  self->request(im.supervisor, std::chrono::seconds(10), actors::init_atom::value, im.gateway)
      .receive([&](bool ok) { ready = ok; },
               [&](caf::error& err) { spdlog::error("engine init: {}", caf::to_string(err)); });
  if (!ready) {
    e->stop();
    return error(errc::internal, "engine: the supervisor did not start");
  }
  return e;
}

engine::~engine() { stop(); }

response engine::call(request r) {
  std::promise<response> p;
  auto f = p.get_future();
  call_async(std::move(r), [&p](response resp) { p.set_value(std::move(resp)); });
  return f.get();
}

std::optional<peer_cred> engine::caller_of(uint64_t correlation) const {
  std::lock_guard lock(mu_);
  auto it = callers_.find(correlation);
  if (it == callers_.end()) return std::nullopt;
  return it->second;
}

void engine::call_async(request r, done_fn done, std::optional<peer_cred> from) {
  if (auto v = validate(r); !v) {
    metrics_.record_rejected();
    done(resp::err{v.err().message});
    return;
  }
  if (stopped_.load()) {
    done(resp::err{"overlay engine error: the engine has stopped"});
    return;
  }
  const uint64_t corr = next_corr_.fetch_add(1);
  auto pc = std::make_shared<pending_call>();
  pc->done = std::move(done);
  pc->op = r.index();
  pc->start = std::chrono::steady_clock::now();
  const bool is_shutdown = std::holds_alternative<req::shutdown>(r);
  {
    std::lock_guard lock(mu_);
    inflight_.emplace(corr, pc);
    if (from) {
      callers_.emplace(corr, *from);
      if (callers_.size() > max_remembered_callers) callers_.erase(callers_.begin());
    }
  }
  actors::reply_fn reply = [this, corr, pc, is_shutdown](response resp) {
    if (pc->fired.exchange(true)) return;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - pc->start).count();
    metrics_.record(pc->op, resp.index(), secs);
    // Flag first: whoever sees the `ok` may rely on shutdown_requested().
    if (is_shutdown && std::holds_alternative<resp::ok>(resp)) {
      std::lock_guard lock(mu_);
      shutdown_requested_ = true;
      shutdown_cv_.notify_all();
    }
    pc->done(std::move(resp));
    finish(corr);
  };
  caf::anon_send(impl_->gateway, actors::request_atom::value, corr,
                 actors::inbound_call{std::move(r), std::move(reply)});
}

void engine::finish(uint64_t corr) {
  std::lock_guard lock(mu_);
  inflight_.erase(corr);
}

void engine::wait_for_shutdown() {
  std::unique_lock lock(mu_);
  shutdown_cv_.wait(lock, [this] {
    return shutdown_requested_.load() || keep_host_requested_.load() || stopped_.load();
  });
}

status engine::crash_child(const std::string& name) {
  if (stopped_.load() || !impl_->sys || !impl_->supervisor) return error(errc::precondition, "engine stopped");
  caf::scoped_actor self{*impl_->sys};
  status out = error(errc::timeout, "supervisor did not answer");
  self->request(impl_->supervisor, std::chrono::seconds(10), actors::crash_atom::value, actors::correlation_id{0}, name)
      .receive(
          [&](actors::correlation_id, response& r) {
            if (auto* e = std::get_if<resp::err>(&r)) out = error(errc::not_found, e->message);
            else out = {};
          },
          [&](caf::error& e) { out = error(errc::internal, "supervisor: " + caf::to_string(e)); });
  return out;
}

result<std::vector<actors::service_row>> engine::services() {
  if (stopped_.load() || !impl_->sys || !impl_->supervisor) return error(errc::precondition, "engine stopped");
  caf::scoped_actor self{*impl_->sys};
  result<std::vector<actors::service_row>> out = error(errc::timeout, "supervisor did not answer");
  self->request(impl_->supervisor, std::chrono::seconds(10), actors::services_atom::value)
      .receive([&](std::vector<actors::service_row>& rows) { out = std::move(rows); },
               [&](caf::error& e) { out = error(errc::internal, "supervisor: " + caf::to_string(e)); });
  return out;
}

result<actors::dns_view> engine::dns() {
  if (stopped_.load() || !impl_->sys || !impl_->supervisor) return error(errc::precondition, "engine stopped");
  caf::scoped_actor self{*impl_->sys};
  result<actors::dns_view> out = error(errc::timeout, "supervisor did not answer");
  self->request(impl_->supervisor, std::chrono::seconds(10), actors::dns_view_atom::value)
      .receive([&](actors::dns_view& v) { out = std::move(v); },
               [&](caf::error& e) { out = error(errc::internal, "supervisor: " + caf::to_string(e)); });
  return out;
}

result<std::vector<actors::peer_row>> engine::wg_peers() {
  if (stopped_.load() || !impl_->sys || !impl_->supervisor) return error(errc::precondition, "engine stopped");
  caf::scoped_actor self{*impl_->sys};
  result<std::vector<actors::peer_row>> out = error(errc::timeout, "supervisor did not answer");
  self->request(impl_->supervisor, std::chrono::seconds(10), actors::peers_atom::value)
      .receive([&](std::vector<actors::peer_row>& rows) { out = std::move(rows); },
               [&](caf::error& e) { out = error(errc::internal, "supervisor: " + caf::to_string(e)); });
  return out;
}

engine::stall_handle engine::stall_service(const std::string& service, std::shared_future<void> release) {
  auto gate = std::make_shared<actors::stall_gate>();
  gate->release = std::move(release);
  stall_handle h;
  h.entered = gate->entered.get_future();
  h.done = std::async(std::launch::async, [this, service, gate]() -> response {
    if (stopped_.load() || !impl_->sys || !impl_->supervisor) return resp::err{"engine stopped"};
    caf::scoped_actor self{*impl_->sys};
    response out = resp::err{"supervisor did not answer"};
    self->request(impl_->supervisor, std::chrono::seconds(70), actors::stall_atom::value, actors::correlation_id{0},
                  service, gate)
        .receive([&](actors::correlation_id, response& r) { out = std::move(r); },
                 [&](caf::error& e) { out = resp::err{"supervisor: " + caf::to_string(e)}; });
    return out;
  });
  return h;
}

size_t engine::running_actors() const {
  return impl_->sys ? impl_->sys->registry().running() : 0;
}

void engine::request_stop_keeping_host() {
  if (!stopped_.load() && impl_->sys && impl_->supervisor) {
    caf::scoped_actor self{*impl_->sys};
    self->request(impl_->supervisor, std::chrono::seconds(10), actors::keep_atom::value)
        .receive([](bool) {}, [](caf::error&) {});
  }
  std::lock_guard lock(mu_);
  keep_host_requested_ = true;
  shutdown_cv_.notify_all();
}

void engine::stop() {
  if (stopped_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    shutdown_cv_.notify_all();
  }
  if (impl_->sys) {
    if (impl_->gateway) caf::anon_send_exit(impl_->gateway, caf::exit_reason::user_shutdown);
    if (impl_->supervisor) caf::anon_send_exit(impl_->supervisor, caf::exit_reason::user_shutdown);
    impl_->gateway = nullptr;
    impl_->supervisor = nullptr;
    impl_->sys.reset();  // blocks until every actor has exited
  }
  impl_->lock.reset();  // nothing of ours touches the host any more
  // Whatever the actors did not answer is answered now.
  std::map<uint64_t, std::shared_ptr<pending_call>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(inflight_);
  }
  for (auto& [corr, pc] : left)
    if (!pc->fired.exchange(true)) pc->done(resp::err{"overlay engine error: the engine stopped"});
}

}  // namespace overlayd::ipc
