// overlayctl: talk to a running overlayd.
//   overlayctl call '<request json>'     any request, over the IPC socket
//   overlayctl status                    the status snapshot
//   overlayctl trace [--since SEQ] [--correlation ID] [--perfetto FILE]
//                                        the actor trace, over the HTTP API
//   overlayctl services [--json]         each service: mode, subnet, gateway,
//                                        bridge, members, dedicated device
// Prints JSON (services: a table unless --json); exits 1 when the daemon
// answers `err`, 2 on usage/transport errors.
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include "ipc/client.hpp"
#include "ipc/codec.hpp"
#include "ipc/socket_path.hpp"

using namespace overlayd;

namespace {
int print_response(const result<ipc::response>& r) {
  if (!r) {
    std::fprintf(stderr, "overlayctl: %s\n", r.err().message.c_str());
    return 2;
  }
  std::printf("%s\n", ipc::encode_response(*r).c_str());
  return std::holds_alternative<ipc::resp::err>(*r) ? 1 : 0;
}
// GET `path` from the HTTP API at ADDR:PORT; the body, or exit code 2 (said).
std::optional<std::string> http_get(const std::string& http, const std::string& path) {
  auto colon = http.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "overlayctl: --http must be ADDR:PORT\n");
    return std::nullopt;
  }
  httplib::Client cli(http.substr(0, colon), std::stoi(http.substr(colon + 1)));
  auto res = cli.Get(path);
  if (!res) {
    std::fprintf(stderr, "overlayctl: HTTP %s: %s\n", http.c_str(), httplib::to_string(res.error()).c_str());
    return std::nullopt;
  }
  if (res->status != 200) {
    std::fprintf(stderr, "overlayctl: HTTP %d: %s\n", res->status, res->body.c_str());
    return std::nullopt;
  }
  return res->body;
}

std::string field(const nlohmann::json& o, const char* k) {
  if (!o.contains(k) || o[k].is_null()) return "-";
  return o[k].is_string() ? o[k].get<std::string>() : o[k].dump();
}

int print_services(const std::string& body, bool as_json) {
  if (as_json) {
    std::printf("%s\n", body.c_str());
    return 0;
  }
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_array()) {
    std::fprintf(stderr, "overlayctl: unexpected /v1/services body\n");
    return 2;
  }
  std::printf("%-20s %-9s %-24s %-20s %-16s %7s  %s\n", "SERVICE", "MODE", "SUBNET", "GATEWAY", "BRIDGE", "MEMBERS",
              "DEDICATED");
  for (const auto& o : j) {
    std::string ded = "-";
    if (o.contains("dedicated") && o["dedicated"].is_object())
      ded = field(o["dedicated"], "interface") + ":" + field(o["dedicated"], "port");
    std::printf("%-20s %-9s %-24s %-20s %-16s %7s  %s\n", field(o, "service").c_str(), field(o, "mode").c_str(),
                field(o, "subnet").c_str(), field(o, "gateway").c_str(), field(o, "bridge").c_str(),
                field(o, "members").c_str(), ded.c_str());
  }
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"overlayctl: control a running overlayd"};
  std::string data_dir = "./.overlayd", socket_path, http = "127.0.0.1:7420";
  int timeout_ms = 5000;
  app.add_option("--data-dir", data_dir, "the daemon's data dir (locates the socket)")
      ->capture_default_str();
  app.add_option("--socket", socket_path, "IPC socket path (overrides --data-dir)");
  app.add_option("--http", http, "HTTP API address for `trace`")->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "how long to retry connecting")->capture_default_str();
  app.require_subcommand(1);

  std::string request_json;
  auto* call = app.add_subcommand("call", "send one request (JSON object) and print the response");
  call->add_option("request", request_json, "e.g. '{\"op\":\"status\"}'")->required();
  auto* status = app.add_subcommand("status", "print the status snapshot");
  uint64_t since = 0, correlation = 0;
  std::string perfetto;
  auto* trace = app.add_subcommand("trace", "print the actor trace (via the HTTP API)");
  trace->add_option("--since", since, "only records after this sequence number");
  trace->add_option("--correlation", correlation, "only records of this correlation id");
  trace->add_option("--perfetto", perfetto, "write Chrome trace-event JSON to FILE instead");
  bool as_json = false;
  auto* services = app.add_subcommand("services", "list the node's services (via the HTTP API)");
  services->add_flag("--json", as_json, "print the JSON body instead of a table");
  CLI11_PARSE(app, argc, argv);

  if (*services) {
    auto body = http_get(http, "/v1/services");
    return body ? print_services(*body, as_json) : 2;
  }

  if (socket_path.empty()) socket_path = ipc::default_socket_path(data_dir);

  if (*call || *status) {
    ipc::request req = ipc::req::status{};
    if (*call) {
      auto r = ipc::decode_request(request_json);
      if (!r) {
        std::fprintf(stderr, "overlayctl: %s\n", r.err().message.c_str());
        return 2;
      }
      req = std::move(r).value();
    }
    auto c = ipc::client::connect(socket_path, std::chrono::milliseconds(timeout_ms));
    if (!c) {
      std::fprintf(stderr, "overlayctl: %s\n", c.err().message.c_str());
      return 2;
    }
    return print_response((*c)->call(req));
  }

  // trace
  std::string path = perfetto.empty() ? "/v1/trace" : "/v1/trace.perfetto";
  path += "?since=" + std::to_string(since) + "&limit=100000";
  if (correlation) path += "&correlation=" + std::to_string(correlation);
  auto body = http_get(http, path);
  if (!body) return 2;
  if (!perfetto.empty()) {
    std::ofstream out(perfetto);
    out << *body;
    if (!out) {
      std::fprintf(stderr, "overlayctl: cannot write %s\n", perfetto.c_str());
      return 2;
    }
    std::printf("wrote %zu bytes to %s\n", body->size(), perfetto.c_str());
    return 0;
  }
  std::printf("%s\n", body->c_str());
  return 0;
}
