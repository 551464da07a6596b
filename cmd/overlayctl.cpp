// overlayctl: talk to a running overlayd, shaped like `wg` and `tailscale`.
//
// Requests (over the IPC socket; every request of the contract):
//   global up --cluster CIDR [--slice CIDR] [--port N] [--deployment D] [--instance I]
//   global down
//   node id N | node pubkey KEY
//   service add NAME [--mode auto|shared|dedicated|isolated] | service rm NAME
//   attach (--pid P | --guest ID | --host-shared ID) --service S [--join-global]
//          [--ephemeral] [--isolation NET] [--dns-server IP] [--dns-domain D]
//   detach (--pid P | --guest ID | --host-shared ID | --windows ID)
//   peer add KEY --endpoint E --allowed-ips A [--keepalive S] [--service S]
//   peer rm KEY [--service S]
//   allowed-ip add|rm KEY CIDR [--service S]
//   ip alloc SERVICE [--join-global] | ip release IP
//   dns add NAME IP | dns rm NAME
//   prune [LIVE_BRIDGE...] | nat tick | shutdown | call '<request json>'
// Views (tables by default, --json for scripts):
//   status | peers | services | nat | dns  (all but status: HTTP API)
//   trace [--follow] [--op OP] [--service S] [--slower-than 5ms] [--perfetto FILE]
//
// Exit codes: 0 ok; 1 the daemon answered `err` (its message on stderr);
// 2 the daemon could not be reached, or the command line was wrong.
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "cmd/ctl_views.hpp"
#include "ipc/client.hpp"
#include "ipc/codec.hpp"
#include "ipc/socket_path.hpp"

using namespace overlayd;
using json = nlohmann::json;

namespace {

constexpr int exit_ok = 0, exit_err = 1, exit_unreachable = 2;

struct options {
  std::string data_dir = "./.overlayd", socket_path, http = "127.0.0.1:7420";
  int timeout_ms = 5000;
  bool as_json = false;
};

std::string socket_of(const options& o) {
  return o.socket_path.empty() ? ipc::default_socket_path(o.data_dir) : o.socket_path;
}

// Sends one request given as a JSON object; prints the answer (JSON). An
// `err` answer's message goes to stderr; `raw` (overlayctl call) prints the
// err response on stdout too, as the wire has it.
int send(const options& o, const json& req, bool raw = false) {
  auto r = ipc::decode_request(req.dump());
  if (!r) {
    std::fprintf(stderr, "overlayctl: %s\n", r.err().message.c_str());
    return exit_unreachable;
  }
  auto c = ipc::client::connect(socket_of(o), std::chrono::milliseconds(o.timeout_ms));
  if (!c) {
    std::fprintf(stderr, "overlayctl: %s\n", c.err().message.c_str());
    return exit_unreachable;
  }
  auto resp = (*c)->call(*r);
  if (!resp) {
    std::fprintf(stderr, "overlayctl: %s\n", resp.err().message.c_str());
    return exit_unreachable;
  }
  const std::string out = ipc::encode_response(*resp);
  if (auto* e = std::get_if<ipc::resp::err>(&*resp)) {
    if (raw) std::printf("%s\n", out.c_str());
    std::fprintf(stderr, "%s\n", e->message.c_str());
    return exit_err;
  }
  std::printf("%s\n", out.c_str());
  return exit_ok;
}

// GET `path` from the HTTP API; the body, or nullopt (said on stderr).
std::optional<std::string> http_get(const options& o, const std::string& path) {
  auto colon = o.http.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "overlayctl: --http must be ADDR:PORT\n");
    return std::nullopt;
  }
  httplib::Client cli(o.http.substr(0, colon), std::stoi(o.http.substr(colon + 1)));
  cli.set_connection_timeout(std::chrono::milliseconds(o.timeout_ms));
  auto res = cli.Get(path);
  if (!res) {
    std::fprintf(stderr, "overlayctl: HTTP %s: %s\n", o.http.c_str(), httplib::to_string(res.error()).c_str());
    return std::nullopt;
  }
  if (res->status != 200) {
    std::fprintf(stderr, "overlayctl: HTTP %d: %s\n", res->status, res->body.c_str());
    return std::nullopt;
  }
  return res->body;
}

std::optional<json> http_json(const options& o, const std::string& path) {
  auto body = http_get(o, path);
  if (!body) return std::nullopt;
  auto j = json::parse(*body, nullptr, false);
  if (j.is_discarded()) {
    std::fprintf(stderr, "overlayctl: %s is not JSON\n", path.c_str());
    return std::nullopt;
  }
  return j;
}

// The status snapshot over the socket: the wire text.
std::optional<std::string> status_text(const options& o) {
  auto c = ipc::client::connect(socket_of(o), std::chrono::milliseconds(o.timeout_ms));
  if (!c) {
    std::fprintf(stderr, "overlayctl: %s\n", c.err().message.c_str());
    return std::nullopt;
  }
  auto r = (*c)->call(ipc::req::status{});
  if (!r) {
    std::fprintf(stderr, "overlayctl: %s\n", r.err().message.c_str());
    return std::nullopt;
  }
  return ipc::encode_response(*r);
}

int64_t now_unix() { return static_cast<int64_t>(std::time(nullptr)); }

json handle_of(const std::optional<uint32_t>& pid, const std::string& guest, const std::string& host_shared,
               const std::string& windows) {
  if (pid) return {{"platform", "linux_pid"}, {"pid", *pid}};
  if (!guest.empty()) return {{"platform", "guest_managed"}, {"id", guest}};
  if (!host_shared.empty()) return {{"platform", "host_shared"}, {"id", host_shared}};
  return {{"platform", "windows_container"}, {"container_id", windows}};
}

void scope(json& req, const std::string& service) {
  if (!service.empty()) req["scope"] = {{"scope", "service"}, {"service", service}};
}

int trace(const options& o, bool follow, const ctl::trace_filter& f, const std::string& perfetto) {
  if (!perfetto.empty()) {
    auto body = http_get(o, "/v1/trace.perfetto?since=0&limit=100000");
    if (!body) return exit_unreachable;
    std::ofstream out(perfetto);
    out << *body;
    if (!out) {
      std::fprintf(stderr, "overlayctl: cannot write %s\n", perfetto.c_str());
      return exit_unreachable;
    }
    std::printf("wrote %zu bytes to %s\n", body->size(), perfetto.c_str());
    return exit_ok;
  }
  uint64_t since = 0;
  // --follow: a request whose records straddle two polls is printed when it
  // has been quiet for one poll, so its tree is whole.
  json pending = json::array();
  for (int polls = 0;; ++polls) {
    auto j = http_json(o, "/v1/trace?since=" + std::to_string(since) + "&limit=100000");
    if (!j) return exit_unreachable;
    if (!follow) {
      if (o.as_json) std::printf("%s\n", (f.empty() ? *j : ctl::trace_filtered(*j, f)).dump().c_str());
      else std::fputs(ctl::trace_view(*j, f).c_str(), stdout);
      return exit_ok;
    }
    json fresh = (*j)["records"];
    since = j->value("last_seq", since);
    std::set<uint64_t> active;
    for (const auto& r : fresh) active.insert(r.value("correlation", uint64_t{0}));
    json ready = json::array(), keep = json::array();
    for (auto& r : pending) (active.count(r.value("correlation", uint64_t{0})) ? keep : ready).push_back(r);
    for (auto& r : fresh) keep.push_back(r);
    pending = std::move(keep);
    if (!ready.empty()) {
      json t{{"records", ready}};
      if (o.as_json) {
        const json shown = f.empty() ? t : ctl::trace_filtered(t, f);
        for (const auto& r : shown["records"]) std::printf("%s\n", r.dump().c_str());
      } else {
        std::fputs(ctl::trace_view(t, f).c_str(), stdout);
      }
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"overlayctl: control a running overlayd"};
  options o;
  app.add_option("--data-dir", o.data_dir, "the daemon's data dir (locates the socket)")->capture_default_str();
  app.add_option("--socket", o.socket_path, "IPC socket path (overrides --data-dir)");
  app.add_option("--http", o.http, "HTTP API address (views peers, services, nat, trace)")->capture_default_str();
  app.add_option("--timeout-ms", o.timeout_ms, "how long to retry connecting")->capture_default_str();
  app.add_flag("--json", o.as_json, "print JSON instead of a table");
  app.require_subcommand(1);
  app.fallthrough();  // `overlayctl status --json` as well as `overlayctl --json status`
  std::optional<int> rc;
  auto run = [&rc](auto fn) { return [&rc, fn] { rc = fn(); }; };

  // ---- requests -----------------------------------------------------------
  auto* global = app.add_subcommand("global", "the cluster overlay")->require_subcommand(1);
  std::string cluster, slice, deployment = "default", instance = "0";
  uint16_t port = 51420;
  auto* gup = global->add_subcommand("up", "setup_global_overlay");
  gup->add_option("--cluster", cluster, "cluster CIDR")->required();
  gup->add_option("--slice", slice, "this node's slice of it");
  gup->add_option("--port", port, "WireGuard port")->capture_default_str();
  gup->add_option("--deployment", deployment)->capture_default_str();
  gup->add_option("--instance", instance)->capture_default_str();
  gup->callback(run([&] {
    json r{{"op", "setup_global_overlay"}, {"deployment", deployment}, {"instance_id", instance},
           {"cluster_cidr", cluster}, {"wg_port", port}};
    if (!slice.empty()) r["slice_cidr"] = slice;
    return send(o, r);
  }));
  global->add_subcommand("down", "teardown_global_overlay")
      ->callback(run([&] { return send(o, {{"op", "teardown_global_overlay"}}); }));

  auto* node = app.add_subcommand("node", "this node's identity")->require_subcommand(1);
  uint64_t node_id = 0;
  std::string pubkey;
  node->add_subcommand("id", "set_local_node_id")->callback(run([&] {
    return send(o, {{"op", "set_local_node_id"}, {"node_id", node_id}});
  }))->add_option("N", node_id)->required();
  node->add_subcommand("pubkey", "set_local_wg_pubkey")->callback(run([&] {
    return send(o, {{"op", "set_local_wg_pubkey"}, {"pubkey", pubkey}});
  }))->add_option("KEY", pubkey)->required();

  auto* service = app.add_subcommand("service", "service overlays")->require_subcommand(1);
  std::string svc_name, mode = "auto";
  auto* sadd = service->add_subcommand("add", "setup_service_overlay");
  sadd->add_option("NAME", svc_name)->required();
  sadd->add_option("--mode", mode)->check(CLI::IsMember({"auto", "shared", "dedicated", "isolated"}))->capture_default_str();
  sadd->callback(run([&] { return send(o, {{"op", "setup_service_overlay"}, {"service", svc_name}, {"mode", mode}}); }));
  auto* srm = service->add_subcommand("rm", "teardown_service_overlay");
  srm->add_option("NAME", svc_name)->required();
  srm->callback(run([&] { return send(o, {{"op", "teardown_service_overlay"}, {"service", svc_name}}); }));

  std::optional<uint32_t> pid;
  std::string guest, host_shared, windows, att_service, isolation, dns_server, dns_domain;
  bool join_global = false, ephemeral = false;
  auto* attach = app.add_subcommand("attach", "attach_container");
  auto* apid = attach->add_option("--pid", pid, "a Linux container's process");
  auto* aguest = attach->add_option("--guest", guest, "a guest-managed VM's id");
  auto* ahost = attach->add_option("--host-shared", host_shared, "a host-network container's id");
  apid->excludes(aguest, ahost);
  aguest->excludes(ahost);
  attach->add_option("--service", att_service)->required();
  attach->add_flag("--join-global", join_global);
  attach->add_flag("--ephemeral", ephemeral);
  attach->add_option("--isolation", isolation, "isolation network");
  attach->add_option("--dns-server", dns_server);
  attach->add_option("--dns-domain", dns_domain);
  attach->callback(run([&] {
    if (!pid && guest.empty() && host_shared.empty()) {
      std::fprintf(stderr, "overlayctl: attach needs --pid, --guest or --host-shared\n");
      return exit_unreachable;
    }
    json r{{"op", "attach_container"}, {"handle", handle_of(pid, guest, host_shared, "")}, {"service", att_service}};
    if (join_global) r["join_global"] = true;
    if (ephemeral) r["ephemeral"] = true;
    if (!isolation.empty()) r["isolation_network"] = isolation;
    if (!dns_server.empty()) r["dns_server"] = dns_server;
    if (!dns_domain.empty()) r["dns_domain"] = dns_domain;
    return send(o, r);
  }));
  auto* detach = app.add_subcommand("detach", "detach_container");
  auto* dpid = detach->add_option("--pid", pid);
  auto* dguest = detach->add_option("--guest", guest);
  auto* dhost = detach->add_option("--host-shared", host_shared);
  auto* dwin = detach->add_option("--windows", windows);
  dpid->excludes(dguest, dhost, dwin);
  dguest->excludes(dhost, dwin);
  dhost->excludes(dwin);
  detach->callback(run([&] {
    if (!pid && guest.empty() && host_shared.empty() && windows.empty()) {
      std::fprintf(stderr, "overlayctl: detach needs --pid, --guest, --host-shared or --windows\n");
      return exit_unreachable;
    }
    return send(o, {{"op", "detach_container"}, {"handle", handle_of(pid, guest, host_shared, windows)}});
  }));

  auto* peer = app.add_subcommand("peer", "WireGuard peers (global, or a dedicated service's)")->require_subcommand(1);
  std::string key, endpoint, allowed, peer_service, cidr;
  uint64_t keepalive = 0;
  auto* padd = peer->add_subcommand("add", "add_peer");
  padd->add_option("KEY", key)->required();
  padd->add_option("--endpoint", endpoint)->required();
  padd->add_option("--allowed-ips", allowed)->required();
  padd->add_option("--keepalive", keepalive)->capture_default_str();
  padd->add_option("--service", peer_service, "a dedicated service's device");
  padd->callback(run([&] {
    json r{{"op", "add_peer"}, {"public_key", key}, {"endpoint", endpoint}, {"allowed_ips", allowed},
           {"persistent_keepalive_secs", keepalive}};
    scope(r, peer_service);
    return send(o, r);
  }));
  auto* prm = peer->add_subcommand("rm", "remove_peer");
  prm->add_option("KEY", key)->required();
  prm->add_option("--service", peer_service);
  prm->callback(run([&] {
    json r{{"op", "remove_peer"}, {"pubkey", key}};
    scope(r, peer_service);
    return send(o, r);
  }));
  auto* aip = app.add_subcommand("allowed-ip", "a peer's AllowedIPs")->require_subcommand(1);
  for (const char* verb : {"add", "rm"}) {
    auto* sc = aip->add_subcommand(verb, std::string(verb) == "add" ? "add_allowed_ip" : "remove_allowed_ip");
    sc->add_option("KEY", key)->required();
    sc->add_option("CIDR", cidr)->required();
    sc->add_option("--service", peer_service);
    const std::string op = std::string(verb) == "add" ? "add_allowed_ip" : "remove_allowed_ip";
    sc->callback(run([&, op] {
      json r{{"op", op}, {"pubkey", key}, {"cidr", cidr}};
      scope(r, peer_service);
      return send(o, r);
    }));
  }

  auto* ipcmd = app.add_subcommand("ip", "addresses")->require_subcommand(1);
  std::string ip_service, ip_addr;
  auto* alloc = ipcmd->add_subcommand("alloc", "allocate_ip");
  alloc->add_option("SERVICE", ip_service)->required();
  alloc->add_flag("--join-global", join_global);
  alloc->callback(run([&] {
    return send(o, {{"op", "allocate_ip"}, {"service", ip_service}, {"join_global", join_global}});
  }));
  auto* release = ipcmd->add_subcommand("release", "release_ip");
  release->add_option("IP", ip_addr)->required();
  release->callback(run([&] { return send(o, {{"op", "release_ip"}, {"ip", ip_addr}}); }));

  auto* dns = app.add_subcommand("dns", "overlay DNS: the view, or `dns add` / `dns rm`");
  std::string dns_name;
  auto* dadd = dns->add_subcommand("add", "register_dns");
  dadd->add_option("NAME", dns_name)->required();
  dadd->add_option("IP", ip_addr)->required();
  dadd->callback(run([&] { return send(o, {{"op", "register_dns"}, {"name", dns_name}, {"ip", ip_addr}}); }));
  auto* drm = dns->add_subcommand("rm", "unregister_dns");
  drm->add_option("NAME", dns_name)->required();
  drm->callback(run([&] { return send(o, {{"op", "unregister_dns"}, {"name", dns_name}}); }));

  std::vector<std::string> live;
  auto* prune = app.add_subcommand("prune", "prune_orphan_bridges (LIVE names are kept)");
  prune->add_option("LIVE", live);
  prune->callback(run([&] { return send(o, {{"op", "prune_orphan_bridges"}, {"live_bridge_names", live}}); }));
  auto* nat = app.add_subcommand("nat", "NAT traversal: the view, or `nat tick`");
  nat->add_subcommand("tick", "nat_tick")->callback(run([&] { return send(o, {{"op", "nat_tick"}}); }));
  app.add_subcommand("shutdown", "revert everything and stop the daemon")
      ->callback(run([&] { return send(o, {{"op", "shutdown"}}); }));
  std::string request_json;
  auto* call = app.add_subcommand("call", "send one request (a JSON object) and print the response");
  call->add_option("request", request_json, "e.g. '{\"op\":\"status\"}'")->required();
  call->callback(run([&] {
    auto j = json::parse(request_json, nullptr, false);
    if (j.is_discarded()) {
      std::fprintf(stderr, "overlayctl: the request is not JSON\n");
      return exit_unreachable;
    }
    return send(o, j, true);
  }));

  // ---- views ------------------------------------------------------------------
  app.add_subcommand("status", "the status snapshot")->callback(run([&] {
    auto s = status_text(o);
    if (!s) return exit_unreachable;
    std::fputs(o.as_json ? (*s + "\n").c_str() : ctl::status_view(json::parse(*s)).c_str(), stdout);
    return exit_ok;
  }));
  app.add_subcommand("peers", "peers: handshake age, bytes, endpoint, connection type")->callback(run([&] {
    auto p = http_json(o, "/v1/peers");
    if (!p) return exit_unreachable;
    if (o.as_json) {
      std::printf("%s\n", p->dump().c_str());
      return exit_ok;
    }
    auto n = http_json(o, "/v1/nat");
    std::fputs(ctl::peers_view(*p, n ? *n : json::object(), now_unix()).c_str(), stdout);
    return exit_ok;
  }));
  app.add_subcommand("services", "services: mode, subnet, gateway, members")->callback(run([&] {
    auto s = http_json(o, "/v1/services");
    if (!s) return exit_unreachable;
    std::fputs(o.as_json ? (s->dump() + "\n").c_str() : ctl::services_view(*s).c_str(), stdout);
    return exit_ok;
  }));
  nat->callback([&] {
    if (!nat->get_subcommands().empty()) return;  // `nat tick` ran
    auto n = http_json(o, "/v1/nat");
    auto a = http_json(o, "/v1/nat/attempts");
    if (!n || !a) {
      rc = exit_unreachable;
      return;
    }
    std::fputs(o.as_json ? (json{{"status", *n}, {"attempts", *a}}.dump() + "\n").c_str()
                         : ctl::nat_view(*n, *a).c_str(),
               stdout);
    rc = exit_ok;
  });
  dns->callback([&] {
    if (!dns->get_subcommands().empty()) return;  // `dns add` / `dns rm` ran
    auto d = http_json(o, "/v1/dns");
    if (!d) {
      rc = exit_unreachable;
      return;
    }
    std::fputs(o.as_json ? (d->dump() + "\n").c_str() : ctl::dns_view(*d).c_str(), stdout);
    rc = exit_ok;
  });
  bool follow = false;
  std::string op_filter, svc_filter, slower, perfetto;
  auto* tr = app.add_subcommand("trace", "the actor trace, one tree per request");
  tr->add_flag("--follow,-f", follow, "stream new requests");
  tr->add_option("--op", op_filter, "only requests of this op");
  tr->add_option("--service", svc_filter, "only requests for this service (all their hops)");
  tr->add_option("--slower-than", slower, "only requests that took longer (e.g. 5ms)");
  tr->add_option("--perfetto", perfetto, "write Chrome trace-event JSON (with flows) to FILE");
  tr->callback(run([&] {
    ctl::trace_filter f;
    if (!op_filter.empty()) f.op = op_filter;
    if (!svc_filter.empty()) f.service = svc_filter;
    if (!slower.empty()) {
      auto ns = ctl::parse_duration_ns(slower);
      if (!ns) {
        std::fprintf(stderr, "overlayctl: --slower-than takes a duration such as 5ms\n");
        return exit_unreachable;
      }
      f.slower_than_ns = *ns;
    }
    return trace(o, follow, f, perfetto);
  }));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, as an unreachable daemon does; --help exits 0.
    const int code = app.exit(e);
    return code == 0 ? exit_ok : exit_unreachable;
  }
  return rc.value_or(exit_ok);
}
