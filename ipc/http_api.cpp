#include "ipc/http_api.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "actors/observability.hpp"
#include "core/atomic_file.hpp"
#include "ipc/codec.hpp"
#include "ipc/engine.hpp"
#include "ipc/http_host.hpp"
#include "ipc/trace_json.hpp"
#include "ipc/web_assets.hpp"

namespace overlayd::ipc {

// GET /v1/services body (defined below).
std::string services_json(const std::vector<actors::service_row>& rows);

result<std::string> load_or_create_token(const std::string& data_dir) {
  const std::string path = data_dir + "/http.token";
  if (auto text = read_file_nofollow(path); text) {
    std::string tok = text->substr(0, text->find('\n'));
    if (tok.size() >= 32) return tok;
    spdlog::warn("{} is too short to be a token; generating a new one", path);
  } else if (text.err().code != errc::not_found) {
    return std::move(text).err();
  }
  unsigned char raw[32];
  if (::getrandom(raw, sizeof raw, 0) != sizeof raw) return system_error("getrandom", "", errno);
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  if (auto w = write_file_atomic(path, std::string(hex) + "\n", 0600); !w) return std::move(w).err();
  return std::string(hex);
}

struct http_api::impl {
  httplib::Server server;
  std::thread thread;
  engine* eng = nullptr;
  std::string token;
  bool loopback = true;
  net::ip_address bound;

  bool authorized(const httplib::Request& req) const {
    const std::string h = req.get_header_value("Authorization");
    const std::string want = "Bearer " + token;
    return h.size() == want.size() && sodium_memcmp(h.data(), want.data(), h.size()) == 0;
  }
  // Read-only endpoints: open on loopback, token elsewhere.
  bool read_allowed(const httplib::Request& req, httplib::Response& res) const {
    if (loopback || authorized(req)) return true;
    deny(res);
    return false;
  }
  static void deny(httplib::Response& res) {
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(R"({"error":"missing or wrong bearer token"})", "application/json");
  }
  static std::optional<uint64_t> param_u64(const httplib::Request& req, const char* name) {
    if (!req.has_param(name)) return std::nullopt;
    const std::string v = req.get_param_value(name);
    uint64_t x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
    return x;
  }

  void routes();
  std::string metrics_text() const;
};

void http_api::impl::routes() {
  server.set_payload_max_length(max_http_body);
  // Before any route: a Host naming something else is a browser misled by
  // DNS rebinding (http_host.hpp).
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (host_allowed(req.get_header_value("Host"), bound)) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 421;
    res.set_content(R"({"error":"Host must name the address the API is bound to, or localhost"})",
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });

  server.Post("/v1/request", [this](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req)) return deny(res);
    auto r = decode_request(req.body);
    if (!r) {
      // Not JSON at all: 400. Well-formed but wrong (unknown op, bad field):
      // the same `err` response the socket gives.
      if (r.err().code == errc::protocol) res.status = 400;
      res.set_content(encode_response(resp::err{r.err().message}), "application/json");
      return;
    }
    res.set_content(encode_response(eng->call(std::move(r).value())), "application/json");
  });
  server.Get("/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    res.set_content(encode_response(eng->call(req::status{})), "application/json");
  });
  // Each service: mode, bridge, subnet, gateway, member count, dedicated
  // device and port. Not a wire response (the contract has no such op).
  server.Get("/v1/services", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    auto rows = eng->services();
    if (!rows) {
      res.status = 503;
      res.set_content(nlohmann::json{{"error", rows.err().message}}.dump(), "application/json");
      return;
    }
    res.set_content(services_json(*rows), "application/json");
  });
  server.Get("/v1/dns", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    auto v = eng->dns();
    if (!v) {
      res.status = 503;
      res.set_content(nlohmann::json{{"error", v.err().message}}.dump(), "application/json");
      return;
    }
    auto recs = nlohmann::json::array();
    for (const auto& [name, ips] : v->records) {
      auto a = nlohmann::json::array();
      for (const auto& ip : ips) a.push_back(ip.to_string());
      recs.push_back({{"name", name}, {"addresses", a}});
    }
    res.set_content(nlohmann::json{{"domains", v->domains}, {"records", recs}}.dump(), "application/json");
  });
  server.Get("/v1/peers", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    auto rows = eng->wg_peers();
    if (!rows) {
      res.status = 503;
      res.set_content(nlohmann::json{{"error", rows.err().message}}.dump(), "application/json");
      return;
    }
    auto j = nlohmann::json::array();
    for (const auto& r : *rows)
      j.push_back({{"device", r.device},
                   {"service", r.service.empty() ? nlohmann::json() : nlohmann::json(r.service)},
                   {"public_key", r.public_key},
                   {"endpoint", r.endpoint.empty() ? nlohmann::json() : nlohmann::json(r.endpoint)},
                   {"allowed_ips", r.allowed_ips},
                   {"last_handshake_unix", r.last_handshake_unix},
                   {"rx_bytes", r.rx_bytes},
                   {"tx_bytes", r.tx_bytes}});
    res.set_content(j.dump(), "application/json");
  });
  // The actors, for the web view: mailbox depth and messages consumed.
  server.Get("/v1/actors", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    auto j = nlohmann::json::array();
    for (const auto& r : eng->observability().snapshot())
      j.push_back({{"name", r.name}, {"mailbox", r.mailbox}, {"handled", r.handled}});
    res.set_content(j.dump(), "application/json");
  });
  // The web view (web/): static files compiled into the daemon.
  for (const auto& f : web_assets()) {
    const std::string path = f.path == "index.html" ? "/" : "/" + std::string(f.path);
    server.Get(path, [this, f](const httplib::Request& req, httplib::Response& res) {
      if (!read_allowed(req, res)) return;
      res.set_content(std::string(f.body), std::string(f.content_type));
    });
  }
  server.Get("/v1/nat", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    res.set_content(encode_response(eng->call(req::nat_status{})), "application/json");
  });
  // The per-peer connect-attempt log (pairs tried, outcome, reason): why a
  // peer is where it is. Beside /v1/nat so that body stays the wire response.
  server.Get("/v1/nat/attempts", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    res.set_content(eng->observability().nat_attempts(), "application/json");
  });
  // What STUN says about our NAT: its mapping behaviour and any problems.
  server.Get("/v1/nat/mapping", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    res.set_content(eng->observability().nat_mapping(), "application/json");
  });
  server.Get("/v1/trace", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
  const auto& ring = eng->observability().ring();
    const uint64_t since = param_u64(req, "since").value_or(0);
    const size_t limit = static_cast<size_t>(std::min<uint64_t>(param_u64(req, "limit").value_or(1000), 100000));
    auto recs = ring.read(since, limit, param_u64(req, "correlation"));
    res.set_content(render_trace_json(recs, ring.last_seq(),
                                      [this](uint64_t corr) { return eng->caller_of(corr); }),
                    "application/json");
  });
  server.Get("/v1/trace.perfetto", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
  const auto& ring = eng->observability().ring();
    auto recs = ring.read(param_u64(req, "since").value_or(0), ring.capacity(),
                          param_u64(req, "correlation"));
    res.set_content(render_perfetto_json(recs), "application/json");
  });
  // Serving is "ok"; state files moved aside and journal entries skipped
  // follow as "warning:" lines (still 200: the daemon serves, but someone
  // should look). Off loopback it needs the token like everything else.
  server.Get("/healthz", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    std::string body = "ok\n";
    for (const auto& p : eng->observability().state_problems()) body += "warning: " + p + "\n";
    res.set_content(body, "text/plain");
  });
  server.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (!read_allowed(req, res)) return;
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
}

std::string services_json(const std::vector<actors::service_row>& rows) {
  auto j = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json o{{"service", r.service}, {"mode", r.mode}, {"members", r.members}};
    o["bridge"] = r.bridge.empty() ? nlohmann::json() : nlohmann::json(r.bridge);
    o["subnet"] = r.subnet ? nlohmann::json(r.subnet->to_string()) : nlohmann::json();
    o["gateway"] = r.gateway ? nlohmann::json(r.gateway->to_string()) : nlohmann::json();
    if (!r.dedicated_interface.empty())
      o["dedicated"] = {{"interface", r.dedicated_interface},
                        {"port", r.dedicated_port},
                        {"public_key", r.dedicated_public_key}};
    else
      o["dedicated"] = nullptr;
    j.push_back(std::move(o));
  }
  return j.dump();
}

std::string http_api::impl::metrics_text() const {
  std::ostringstream out;
  out << eng->metrics().render();
  out << eng->peers().render();
  out << "# HELP overlayd_actors_running Actors alive in the engine.\n"
      << "# TYPE overlayd_actors_running gauge\n"
      << "overlayd_actors_running " << eng->running_actors() << "\n";
  out << "# HELP overlayd_actor_mailbox_depth Messages waiting in an actor's mailbox.\n"
      << "# TYPE overlayd_actor_mailbox_depth gauge\n";
  auto rows = eng->observability().snapshot();
  for (auto& r : rows) out << "overlayd_actor_mailbox_depth{actor=\"" << r.name << "\"} " << r.mailbox << "\n";
  out << "# HELP overlayd_actor_messages_total Messages an actor has consumed.\n"
      << "# TYPE overlayd_actor_messages_total counter\n";
  for (auto& r : rows) out << "overlayd_actor_messages_total{actor=\"" << r.name << "\"} " << r.handled << "\n";
  out << "# HELP overlayd_allowed_ip_moves_total AllowedIPs that moved from one peer to another.\n"
      << "# TYPE overlayd_allowed_ip_moves_total counter\n"
      << "overlayd_allowed_ip_moves_total " << eng->observability().counters().allowed_ip_moves.load() << "\n";
  out << "# HELP overlayd_state_files_quarantined_total State files that failed to parse and were moved aside.\n"
      << "# TYPE overlayd_state_files_quarantined_total counter\n"
      << "overlayd_state_files_quarantined_total " << eng->observability().files_quarantined() << "\n";
  out << "# HELP overlayd_journal_entries_skipped_total Journal entries not of a shape we write, never replayed.\n"
      << "# TYPE overlayd_journal_entries_skipped_total counter\n"
      << "overlayd_journal_entries_skipped_total " << eng->observability().journal_entries_skipped() << "\n";
  out << "# HELP overlayd_drift_repairs_total Times our nft tables were changed by someone else and restored.\n"
      << "# TYPE overlayd_drift_repairs_total counter\n"
      << "overlayd_drift_repairs_total " << eng->observability().drift_repairs() << "\n";
  const auto& ring = eng->observability().ring();
  out << "# HELP overlayd_trace_records_total Messages recorded in the actor trace.\n"
      << "# TYPE overlayd_trace_records_total counter\n"
      << "overlayd_trace_records_total " << ring.last_seq() << "\n";
  return out.str();
}

result<std::unique_ptr<http_api>> http_api::start(const net::endpoint& at, engine& eng, std::string token) {
  auto api = bind(at, std::move(token));
  if (!api) return api;
  (*api)->serve(eng);
  return api;
}

void http_api::serve(engine& eng) {
  if (impl_->eng) return;
  impl_->eng = &eng;
  auto* srv = &impl_->server;
  impl_->thread = std::thread([srv] { srv->listen_after_bind(); });
}

result<std::unique_ptr<http_api>> http_api::bind(const net::endpoint& bind, std::string token) {
  auto im = std::make_unique<impl>();
  im->token = std::move(token);
  im->loopback = bind.ip().is_loopback();
  im->bound = bind.ip();
  im->routes();
  const std::string host = bind.ip().to_string();
  int port = bind.port();
  if (port == 0) {
    port = im->server.bind_to_any_port(host);
    if (port < 0) return error(errc::system, "HTTP: cannot bind " + host + ":0");
  } else if (!im->server.bind_to_port(host, port)) {
    return error(errc::system, "HTTP: cannot bind " + bind.to_string() + " (in use or not local?)");
  }
  std::unique_ptr<http_api> api(new http_api(std::move(im)));
  api->port_ = static_cast<uint16_t>(port);
  return api;
}

http_api::http_api(std::unique_ptr<impl> im) : impl_(std::move(im)) {}
http_api::~http_api() { stop(); }

void http_api::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace overlayd::ipc
