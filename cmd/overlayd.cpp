// overlayd: the node-local overlay network daemon. Thin: parse flags, take
// the data dir's lock, bind its Unix socket and HTTP API, start the engine,
// serve; turn SIGTERM/SIGINT/SIGQUIT into a `shutdown` request (SIGHUP logs
// state), and stop everything in reverse order.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <thread>

#include "cmd/logging.hpp"
#include "cmd/sd_notify.hpp"
#include "ipc/engine.hpp"
#include "ipc/http_api.hpp"
#include "ipc/socket_path.hpp"
#include "ipc/unix_server.hpp"
#include "net/host/data_dir.hpp"
#include "actors/observability.hpp"

using namespace overlayd;

int main(int argc, char** argv) {
  std::atomic<bool> engine_stopping{false};
  bool keep_on_exit = false;
  CLI::App app{"overlayd: node-local overlay network daemon"};
  ipc::engine_config cfg;
  std::string socket_path, http = "127.0.0.1:7420", log_level = "info", log_format = "text";
  app.add_option("--data-dir", cfg.data_dir, "state directory")->capture_default_str();
  app.add_option("--socket", socket_path,
                 "IPC socket path (default: from the data dir, as the contract says)");
  app.add_option("--http", http, "HTTP control API ADDR:PORT, or 'off'")->capture_default_str();
  app.add_option("--uapi-dir", cfg.uapi_dir, "where WireGuard UAPI sockets go")->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  app.add_option("--log-format", log_format, "text|json")->capture_default_str();
  app.add_option("--firewall-table", cfg.firewall_table,
                 "name of our nftables table (one per daemon on a host)")
      ->capture_default_str();
  std::vector<std::string> dns_listen, dns_upstreams, dns_allow;
  app.add_option("--dns-domain", cfg.dns_domain, "overlay DNS domain")->capture_default_str();
  app.add_option("--dns-ttl", cfg.dns_ttl_secs, "TTL of overlay DNS answers, seconds")
      ->capture_default_str();
  app.add_option("--dns-listen", dns_listen,
                 "extra ADDR:PORT to serve overlay DNS on (repeatable; loopback allowed)");
  app.add_option("--dns-allow", dns_allow,
                 "CIDR whose clients may have outside names forwarded (repeatable); loopback, "
                 "this host and the cluster CIDR always may, everyone else gets REFUSED");
  app.add_option("--dns-upstream", dns_upstreams,
                 "resolver ADDR:PORT for names outside the domain (repeatable; default: "
                 "/etc/resolv.conf without loopback entries)");
  app.add_option("--wg-mtu", cfg.wg_mtu,
                 "MTU of our WireGuard devices; 0 = the underlay's (default route's device) minus 80")
      ->capture_default_str();
  app.add_option("--wg-pin-threads", cfg.wg_pin_threads,
                 "pin each WireGuard device's two packet threads to different CPUs (true|false)")
      ->capture_default_str();
  app.add_option("--dedicated-port-base", cfg.dedicated_port_base,
                 "dedicated WireGuard devices take ports BASE+1..BASE+256, whatever the cluster port")
      ->capture_default_str()
      ->check(CLI::Range(1024u, 65279u));
  app.add_option("--nat-direct-retry", cfg.nat_direct_retry_secs,
                 "seconds between tries of a direct path for a relayed peer (0: 120)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 86400u));
  app.add_option("--restart-grace", cfg.restart_grace_secs,
                 "after a restart, seconds the agent has to claim the previous run's bridges and "
                 "containers again before the rest is reverted; 0 reverts at start")
      ->capture_default_str();
  app.add_flag("--keep-on-exit", keep_on_exit,
               "on SIGTERM/SIGINT/SIGQUIT, exit without tearing down so the next start adopts "
               "(a `shutdown` request still reverts everything)");
  app.add_option("--trace-capacity", cfg.trace_capacity,
                 "actor-trace ring size in messages; 0 turns tracing off")
      ->capture_default_str();
  app.set_version_flag("--version", std::string("overlayd ") + OVERLAYD_VERSION);
  CLI11_PARSE(app, argc, argv);
  if (!cmd::setup_logging(log_level, log_format)) return 2;
  if (cfg.trace_capacity == 0) {
    cfg.trace_enabled = false;
    cfg.trace_capacity = 1;
  }
  if (socket_path.empty()) socket_path = ipc::default_socket_path(cfg.data_dir);
  for (auto* list : {&dns_listen, &dns_upstreams}) {
    std::vector<net::endpoint> eps;
    for (auto& t : *list) {
      auto ep = net::endpoint::parse(t);
      if (!ep) {
        std::fprintf(stderr, "%s: %s\n", list == &dns_listen ? "--dns-listen" : "--dns-upstream",
                     ep.err().message.c_str());
        return 2;
      }
      eps.push_back(*ep);
    }
    if (list == &dns_listen) cfg.dns_listen = eps;
    else if (!eps.empty()) cfg.dns_upstreams = eps;
  }

  for (const auto& t : dns_allow) {
    auto c = net::cidr::parse(t);
    if (!c) {
      std::fprintf(stderr, "--dns-allow: %s\n", c.err().message.c_str());
      return 2;
    }
    cfg.dns_allow.push_back(c->normalized());
  }

  std::optional<net::endpoint> http_bind;
  if (http != "off") {
    auto ep = net::endpoint::parse(http);
    if (!ep) {
      std::fprintf(stderr, "--http: %s\n", ep.err().message.c_str());
      return 2;
    }
    http_bind = *ep;
  }

  // Signals go to one thread (below); block them before any other thread
  // exists so every thread inherits that. Children we spawn get a clean mask
  // (net/firewall/spawn.cpp).
  //   SIGTERM, SIGINT, SIGQUIT: shut down as a `shutdown` request would
  //     (revert every host change, remove the socket, exit 0); with
  //     --keep-on-exit, exit 0 without teardown: the next start adopts.
  //   SIGHUP: not fatal. Logs one line of state (data dir, lock holder,
  //     actors running, state-file problems) and flushes the log; the
  //     daemon keeps serving. (Its log goes to stderr, so there is no file
  //     to reopen.)
  sigset_t sigs;
  sigemptyset(&sigs);
  for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGHUP}) sigaddset(&sigs, s);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Start order: nothing touches the host before this daemon is the only
  // one on its data dir, and nothing is recovered before every socket is
  // bound (a bind failure then changes nothing):
  //   1. data dir checked, lock taken;  2. IPC socket and HTTP bound;
  //   3. engine started (host journal recovery);  4. serve.
  if (auto d = host::prepare_data_dir(cfg.data_dir); !d) {
    spdlog::error("{}", d.err().message);
    return 1;
  }
  auto lock = host::data_dir_lock::acquire(cfg.data_dir);
  if (!lock) {
    spdlog::error("{}", lock.err().message);
    return 1;
  }
  // The HTTP token exists before the socket file does: a client that sees
  // the socket can read the token.
  std::optional<std::string> token;
  if (http_bind) {
    auto t = ipc::load_or_create_token(cfg.data_dir);
    if (!t) {
      spdlog::error("{}", t.err().message);
      return 1;
    }
    token = std::move(t).value();
  }
  // The socket file appears at bind; clients that connect before step 4
  // wait in the listen backlog.
  auto server = ipc::unix_server::bind(socket_path);
  if (!server) {
    spdlog::error("{}", server.err().message);
    return 1;
  }
  std::unique_ptr<ipc::http_api> api;
  if (http_bind) {
    auto a = ipc::http_api::bind(*http_bind, *token);
    if (!a) {
      spdlog::error("{}", a.err().message);
      return 1;
    }
    api = std::move(a).value();
  }
  auto eng = ipc::engine::start(cfg, std::move(lock).value());
  if (!eng) {
    spdlog::error("{}", eng.err().message);
    return 1;
  }
  auto& engine = **eng;
  if (api) api->serve(engine);
  (*server)->serve(engine);
  spdlog::info("overlayd {} ready: socket {}, http {}, data dir {}", OVERLAYD_VERSION,
               socket_path, http_bind ? http : "off", cfg.data_dir);
  cmd::sd_notify("READY=1\nSTATUS=serving");

  std::thread signals([&] {
    for (;;) {
      int sig = 0;
      if (sigwait(&sigs, &sig) != 0) return;
      if (engine.shutdown_requested() || engine.keep_host_requested() || engine_stopping.load())
        return;  // woken by us at exit
      if (sig == SIGHUP) {
        auto problems = engine.observability().state_problems();
        spdlog::info("SIGHUP: still serving; data dir {}, {} actors running, {} state-file problem(s){}",
                     cfg.data_dir, engine.running_actors(), problems.size(),
                     problems.empty() ? "" : ": " + problems.back());
        spdlog::default_logger()->flush();
        continue;
      }
      if (keep_on_exit) {
        spdlog::info("signal {}: exiting without teardown (--keep-on-exit); the next start adopts", sig);
        engine.request_stop_keeping_host();
        return;
      }
      spdlog::info("signal {}: shutting down as a `shutdown` request would", sig);
      auto r = engine.call(ipc::req::shutdown{});
      if (auto* e = std::get_if<ipc::resp::err>(&r)) spdlog::error("shutdown: {}", e->message);
      return;
    }
  });

  engine.wait_for_shutdown();
  cmd::sd_notify("STOPPING=1");
  engine_stopping = true;
  if (api) api->stop();
  (*server)->stop();
  engine.stop();
  // Release the signal thread if the shutdown came over IPC.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  spdlog::info("overlayd stopped");
  return 0;
}
