// overlay-relayd: our relay server as a standalone program.
//
//   overlay-relayd --listen 0.0.0.0:3478 [--external 203.0.113.1]
//                  [--max-sessions 100] [--credential-file FILE]
//
// The cluster relay credential is read from FILE (first line) or from the
// environment variable OVERLAY_RELAY_CREDENTIAL, never from the command line
// (it would show in ps). Stops cleanly on SIGINT/SIGTERM.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "net/nat/nat_constants.hpp"
#include "net/nat/relay_service.hpp"

namespace {

std::atomic<bool> stop_requested{false};
void on_signal(int) { stop_requested.store(true); }

}  // namespace

int main(int argc, char** argv) {
  using namespace overlayd::net;
  CLI::App app{"overlay-relayd: the overlayd relay server"};
  std::string listen = "0.0.0.0:3478", external, credential_file;
  size_t max_sessions = nat::default_relay_max_sessions;
  app.add_option("--listen", listen, "UDP address to listen on (ip:port)");
  app.add_option("--external", external, "IP address clients and peers reach the relay at");
  app.add_option("--max-sessions", max_sessions, "maximum concurrent allocations")->check(CLI::Range(1, 16000));
  app.add_option("--credential-file", credential_file, "file holding the cluster relay credential");
  CLI11_PARSE(app, argc, argv);

  auto listen_ep = endpoint::parse(listen);
  if (!listen_ep) {
    std::cerr << "overlay-relayd: --listen: " << listen_ep.err().message << "\n";
    return 2;
  }
  nat::relay_server_options opts;
  opts.max_sessions = max_sessions;
  if (!external.empty()) {
    auto ip = ip_address::parse(external);
    if (!ip) {
      std::cerr << "overlay-relayd: --external: " << ip.err().message << "\n";
      return 2;
    }
    opts.external_ip = *ip;
  }
  if (!credential_file.empty()) {
    std::ifstream f(credential_file);
    if (!f || !std::getline(f, opts.credential)) {
      std::cerr << "overlay-relayd: cannot read credential file " << credential_file << "\n";
      return 2;
    }
  } else if (const char* env = std::getenv("OVERLAY_RELAY_CREDENTIAL")) {
    opts.credential = env;
  }
  // relay_service::start refuses an empty credential (relay_server.hpp says why).

  auto svc = nat::relay_service::start(*listen_ep, std::move(opts));
  if (!svc) {
    std::cerr << "overlay-relayd: " << svc.err().message << "\n";
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "overlay-relayd listening on " << svc->local().to_string() << std::endl;
  auto r = svc->run(stop_requested);
  const auto& st = svc->server().stats();
  std::cout << "overlay-relayd stopping: allocations=" << st.allocations << " forwarded=" << st.forwarded
            << " dropped_auth=" << st.dropped_auth << " dropped_replay=" << st.dropped_replay
            << " dropped_stale=" << st.dropped_stale << " dropped_data=" << st.dropped_data
            << " refused=" << st.refused << std::endl;
  if (!r) {
    std::cerr << "overlay-relayd: " << r.err().message << "\n";
    return 1;
  }
  return 0;
}
