// overlayctl: talk to a running overlayd.
//   overlayctl call '<request json>'     any request, over the IPC socket
//   overlayctl status                    the status snapshot
//   overlayctl trace [--since SEQ] [--correlation ID] [--perfetto FILE]
//                                        the actor trace, over the HTTP API
// Prints JSON; exits 1 when the daemon answers `err`, 2 on usage/transport errors.
#include <CLI/CLI.hpp>
#include <httplib.h>

#include <cstdio>
#include <fstream>

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
  CLI11_PARSE(app, argc, argv);

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
  auto colon = http.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "overlayctl: --http must be ADDR:PORT\n");
    return 2;
  }
  httplib::Client cli(http.substr(0, colon), std::stoi(http.substr(colon + 1)));
  std::string path = perfetto.empty() ? "/v1/trace" : "/v1/trace.perfetto";
  path += "?since=" + std::to_string(since) + "&limit=100000";
  if (correlation) path += "&correlation=" + std::to_string(correlation);
  auto res = cli.Get(path);
  if (!res) {
    std::fprintf(stderr, "overlayctl: HTTP %s: %s\n", http.c_str(), httplib::to_string(res.error()).c_str());
    return 2;
  }
  if (res->status != 200) {
    std::fprintf(stderr, "overlayctl: HTTP %d: %s\n", res->status, res->body.c_str());
    return 2;
  }
  if (!perfetto.empty()) {
    std::ofstream out(perfetto);
    out << res->body;
    if (!out) {
      std::fprintf(stderr, "overlayctl: cannot write %s\n", perfetto.c_str());
      return 2;
    }
    std::printf("wrote %zu bytes to %s\n", res->body.size(), perfetto.c_str());
    return 0;
  }
  std::printf("%s\n", res->body.c_str());
  return 0;
}
