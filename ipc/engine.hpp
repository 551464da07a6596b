// The embedding API: an overlayd engine in your process.
//
//   auto eng = overlayd::ipc::engine::start({.data_dir = "/var/lib/me"});
//   ipc::response r = (*eng)->call(ipc::req::allocate_ip{"web"});
//   (*eng)->call_async(ipc::req::status{}, [](ipc::response r) { ... });
//   (*eng)->stop();
//
// The daemon's Unix socket and HTTP API are thin layers over this same call
// path: validate (ipc/validate.hpp) → gateway actor → owning actor → reply.
// Every call gets a correlation id that tags every message it causes in the
// actor trace. Thread-safe; any number of engines may live in one process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "actors/service_row.hpp"
#include "core/error.hpp"
#include "ipc/metrics.hpp"
#include "ipc/peer_cred.hpp"
#include "ipc/types.hpp"
#include "net/ip.hpp"

namespace overlayd::actors {
class observability;
}
namespace overlayd::host {
class data_dir_lock;
}

namespace overlayd::ipc {

struct engine_config {
  std::string data_dir = "./.overlayd";
  std::string uapi_dir = "/var/run/wireguard";
  std::string firewall_table = "overlayd";  // our nftables table; one per daemon on a host
  // Overlay DNS (answers on <node_ip>:53 once the global overlay is up).
  std::string dns_domain = "overlay";
  unsigned dns_ttl_secs = 30;
  std::vector<net::endpoint> dns_listen;                   // extra, from the start
  std::optional<std::vector<net::endpoint>> dns_upstreams; // nullopt: resolv.conf minus loopback
  // Beside loopback, this host and the cluster CIDR: clients whose outside
  // names the DNS server forwards (--dns-allow); others get REFUSED.
  std::vector<net::cidr> dns_allow;
  size_t trace_capacity = 65536;
  bool trace_enabled = true;
  size_t worker_threads = 0;  // CAF scheduler threads; 0 = CAF's default
  unsigned veth_sweep_secs = 60;  // orphan veths of dead containers are removed this often
  unsigned nat_direct_retry_secs = 0;  // relayed peers try a direct path again this often; 0 = 120 s
  // Our WireGuard devices pin their two packet threads to different CPUs
  // (net/wg/cpu_pin.hpp): a large win when both ends share a host's CPUs,
  // a loss when other work saturates one of the two CPUs.
  bool wg_pin_threads = true;
  // The dedicated port band is base+1 ..= base+256 (51421..51676 by default).
  uint16_t dedicated_port_base = 51420;
  // MTU of our WireGuard devices; 0 = follow the underlay (net/wg/underlay_mtu.hpp).
  uint32_t wg_mtu = 0;
  // A start that finds a previous run's host changes (a crash, or an exit
  // without teardown) adopts them: bridges, containers' veths and
  // addresses, fences. What the agent does not claim again within this
  // many seconds is reverted; 0 reverts everything at start.
  unsigned restart_grace_secs = 600;
};

class engine {
 public:
  using done_fn = std::function<void(response)>;

  // Checks the data dir (owned by us, not group/world-writable), takes its
  // lock (one engine or daemon per data dir: host/data_dir.hpp), then starts
  // the actors, which recover the host journal.
  static result<std::unique_ptr<engine>> start(engine_config cfg);
  // The same with the lock already taken (the daemon takes it first, before
  // binding its sockets).
  static result<std::unique_ptr<engine>> start(engine_config cfg, host::data_dir_lock lock);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Blocking call.
  response call(request r);
  // Asynchronous call: `done` runs exactly once, on an actor thread (must not
  // block) — or inline when the request is invalid or the engine stopped.
  // `from`: the socket peer that sent it (kept for the trace: caller_of).
  void call_async(request r, done_fn done, std::optional<peer_cred> from = std::nullopt);
  // The socket peer behind a correlation id, for the last
  // max_remembered_callers requests that had one.
  std::optional<peer_cred> caller_of(uint64_t correlation) const;
  static constexpr size_t max_remembered_callers = 8192;

  // Served a `shutdown` request (host state already reverted).
  bool shutdown_requested() const noexcept { return shutdown_requested_.load(); }
  // Blocks until a shutdown request was served or stop() was called.
  void wait_for_shutdown();
  // Stops every actor; calls still in flight are answered `err`. Idempotent.
  // Unless a shutdown request was served first, the host is reverted.
  void stop();
  // Makes the coming stop() leave the host as it is: bridges, containers'
  // veths, addresses and rules stay, journaled, for the next start on this
  // data dir to adopt (the daemon's --keep-on-exit; our WireGuard devices
  // close with us). Wakes wait_for_shutdown(); the caller then calls stop()
  // as usual. A `shutdown` request still reverts everything.
  void request_stop_keeping_host();
  bool keep_host_requested() const noexcept { return keep_host_requested_.load(); }

  const engine_config& config() const noexcept { return cfg_; }
  // The node's services: mode, bridge, subnet, gateway, members, dedicated
  // device and port (GET /v1/services).
  result<std::vector<actors::service_row>> services();
  // Every peer of every device of the node, with byte counters (GET /v1/peers).
  result<std::vector<actors::peer_row>> wg_peers();
  // The overlay DNS: domains served and registered names (GET /v1/dns).
  result<actors::dns_view> dns();
  actors::observability& observability() noexcept { return *obs_; }
  const request_metrics& metrics() const noexcept { return metrics_; }
  peer_metrics& peers() noexcept { return peers_; }
  const peer_metrics& peers() const noexcept { return peers_; }
  size_t running_actors() const;
  // Testing supervision: makes a supervised child crash as if its handler
  // threw ("service_overlay:<service>", "dedicated_transport:<service>",
  // "allocator", "dns", "nat_orchestrator"). The supervisor restarts it.
  status crash_child(const std::string& name);
  // Testing concurrency: blocks `service`'s actor, as a slow netlink call
  // would, until `release` is ready. `entered` is ready once it is blocked;
  // `done` carries the answer to the blocked request.
  struct stall_handle {
    std::future<void> entered;
    std::future<response> done;
  };
  stall_handle stall_service(const std::string& service, std::shared_future<void> release);

 private:
  struct impl;
  explicit engine(engine_config cfg);

  void finish(uint64_t corr);

  engine_config cfg_;
  std::unique_ptr<actors::observability> obs_;
  std::unique_ptr<impl> impl_;
  request_metrics metrics_;
  peer_metrics peers_;
  std::atomic<uint64_t> next_corr_{1};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<bool> keep_host_requested_{false};
  mutable std::mutex mu_;  // guards inflight_ and the shutdown condition
  std::condition_variable shutdown_cv_;
  std::map<uint64_t, std::shared_ptr<struct pending_call>> inflight_;
  std::map<uint64_t, peer_cred> callers_;  // guarded by mu_; oldest dropped first
};

}  // namespace overlayd::ipc
