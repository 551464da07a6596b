// overlay-dnsd: the overlay DNS server as a standalone program, for system
// tests and benchmarks. The daemon drives the same dns::server from its dns
// actor; this main only translates flags, signals and a line protocol.
//
//   overlay-dnsd --listen 10.0.0.1:53 [--listen ...] [--domain overlay]
//                [--upstream 192.0.2.1:53 ...] [--resolv-conf FILE]
//                [--upstream-timeout-ms 2000] [--ttl 30]
//                [--record web=10.0.0.5 ...] [--records-file FILE]
//                [--control-stdin]
//
// Records file: one "NAME IP" per line ('#' comments); re-read on SIGHUP,
// replacing every record with those of --record and the file. With
// --control-stdin, stdin takes commands
// "set NAME IP", "add NAME IP", "del NAME", "clear", each answered with a
// line "ok" or "error: ..." on stdout. Prints "ready ADDR:PORT..." once
// listening. No upstreams unless given: names outside the domain then get
// SERVFAIL (tests must never reach the host's resolvers by accident).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "net/dns/resolv_conf.hpp"
#include "net/dns/server.hpp"
#include "net/dns/socket.hpp"

using namespace overlayd;
using namespace overlayd::net;
namespace dns = overlayd::net::dns;

namespace {

struct options {
  std::string domain = "overlay";
  std::vector<std::string> listen, upstreams, records, allow;
  double rrl_rate = dns::limits::rrl_default_per_second, rrl_burst = dns::limits::rrl_default_burst;
  std::string resolv_conf, records_file;
  int upstream_timeout_ms = static_cast<int>(dns::limits::default_upstream_timeout.count());
  int ttl = static_cast<int>(dns::limits::default_ttl.count());
  bool control_stdin = false;
};

result<std::vector<std::pair<std::string, ip_address>>> read_records_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return system_error("read", path, errno);
  std::vector<std::pair<std::string, ip_address>> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (auto c = line.find('#'); c != std::string::npos) line.resize(c);
    std::istringstream ls(line);
    std::string name, ip;
    if (!(ls >> name)) continue;
    ls >> ip;
    auto addr = ip_address::parse(ip);
    if (!addr) return error(errc::invalid_argument, path + ":" + std::to_string(n) + ": " + addr.err().message);
    out.emplace_back(name, *addr);
  }
  return out;
}

// "NAME=IP" → the pair.
result<std::pair<std::string, ip_address>> parse_record_flag(const std::string& flag) {
  auto eq = flag.find('=');
  if (eq == std::string::npos) return error(errc::invalid_argument, "--record wants NAME=IP, got '" + flag + "'");
  auto ip = ip_address::parse(flag.substr(eq + 1));
  if (!ip) return std::move(ip).err();
  return std::pair{flag.substr(0, eq), *ip};
}

// One control line → "ok" or "error: ...".
std::string control(dns::record_store& store, const std::string& line) {
  std::istringstream ls(line);
  std::string cmd, name, ip;
  ls >> cmd >> name >> ip;
  if (cmd == "clear") {
    store.clear();
    return "ok";
  }
  if (cmd == "del") return store.remove(name) ? "ok" : "error: " + name + " is not registered";
  if (cmd == "set" || cmd == "add") {
    auto addr = ip_address::parse(ip);
    if (!addr) return "error: " + addr.err().message;
    auto s = cmd == "set" ? store.set(name, *addr) : store.add(name, *addr);
    return s ? "ok" : "error: " + s.err().message;
  }
  return "error: unknown command '" + cmd + "' (set, add, del, clear)";
}

result<dns::server_config> make_config(const options& o) {
  dns::server_config cfg;
  cfg.domain = o.domain;
  cfg.ttl = std::chrono::seconds(o.ttl);
  cfg.upstream_timeout = std::chrono::milliseconds(o.upstream_timeout_ms);
  for (const auto& l : o.listen) {
    auto ep = endpoint::parse(l);
    if (!ep) return std::move(ep).err();
    cfg.listen.push_back(*ep);
  }
  for (const auto& u : o.upstreams) {
    auto ep = endpoint::parse(u);
    if (!ep) return std::move(ep).err();
    cfg.upstreams.push_back(*ep);
  }
  for (const auto& a : o.allow) {
    auto c = cidr::parse(a);
    if (!c) return std::move(c).err();
    cfg.recursion_allow.push_back(c->normalized());
  }
  cfg.rrl_per_second = o.rrl_rate;
  cfg.rrl_burst = o.rrl_burst;
  if (!o.resolv_conf.empty()) {
    auto ups = dns::read_resolv_conf(o.resolv_conf);
    if (!ups) return std::move(ups).err();
    cfg.upstreams.insert(cfg.upstreams.end(), ups->begin(), ups->end());
  }
  return cfg;
}

// The records of the flags, then of the file: all of them replace the
// store's content (at start and on SIGHUP).
status reload(dns::record_store& store, const options& o) {
  std::vector<std::pair<std::string, ip_address>> all;
  for (const auto& r : o.records) {
    auto rec = parse_record_flag(r);
    if (!rec) return std::move(rec).err();
    all.push_back(std::move(*rec));
  }
  if (!o.records_file.empty()) {
    auto recs = read_records_file(o.records_file);
    if (!recs) return std::move(recs).err();
    all.insert(all.end(), recs->begin(), recs->end());
  }
  return store.replace_all(all);
}

// Serves until SIGINT/SIGTERM; SIGHUP reloads the records file.
int run(dns::server& srv, const options& o, int sig_fd) {
  std::string pending;
  bool stdin_open = o.control_stdin;
  for (;;) {
    pollfd p[2] = {{sig_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (::poll(p, stdin_open ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(sig_fd, &si, sizeof si) != sizeof si) continue;
      if (si.ssi_signo != SIGHUP) return 0;
      if (auto s = reload(*srv.store(), o); !s) std::cerr << "overlay-dnsd: reload: " << s.err().message << "\n";
      else std::cerr << "overlay-dnsd: records reloaded\n";
    }
    if (stdin_open && (p[1].revents & (POLLIN | POLLHUP))) {
      char buf[4096];
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;  // EOF: keep serving
        continue;
      }
      pending.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1))
        std::cout << control(*srv.store(), pending.substr(0, nl)) << std::endl;
      if (pending.size() > 4096) pending.clear();  // a line that long is junk
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"overlay-dnsd: the overlay DNS server, standalone"};
  app.add_option("--domain", o.domain, "zone answered authoritatively")->capture_default_str();
  app.add_option("--listen", o.listen, "ADDR:PORT to serve UDP and TCP on (repeatable)")->required();
  app.add_option("--upstream", o.upstreams, "ADDR:PORT of an upstream resolver (repeatable)");
  app.add_option("--resolv-conf", o.resolv_conf, "also take upstreams from this resolv.conf");
  app.add_option("--upstream-timeout-ms", o.upstream_timeout_ms, "per-upstream timeout")->capture_default_str();
  app.add_option("--ttl", o.ttl, "TTL of our answers, seconds")->capture_default_str();
  app.add_option("--record", o.records, "NAME=IP (repeatable; a repeated NAME adds addresses)");
  app.add_option("--records-file", o.records_file, "'NAME IP' lines, re-read on SIGHUP");
  app.add_flag("--control-stdin", o.control_stdin, "read set/add/del/clear commands from stdin");
  app.add_option("--allow", o.allow,
                 "CIDR whose clients may have outside names forwarded (repeatable; loopback and "
                 "this host always may; others get REFUSED)");
  app.add_option("--rrl-rate", o.rrl_rate, "UDP responses per second per client /24 or /56 (0 = off)")
      ->capture_default_str();
  app.add_option("--rrl-burst", o.rrl_burst, "burst of the per-prefix response limit")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  auto cfg = make_config(o);
  if (!cfg) {
    std::cerr << "overlay-dnsd: " << cfg.err().message << "\n";
    return 2;
  }
  auto store = std::make_shared<dns::record_store>();
  if (auto s = reload(*store, o); !s) {
    std::cerr << "overlay-dnsd: " << s.err().message << "\n";
    return 2;
  }

  // Signals arrive through a signalfd; block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigdelset(&set, SIGPIPE);
  dns::unique_fd sig_fd(::signalfd(-1, &set, SFD_CLOEXEC));

  dns::server srv(store, *cfg);
  if (auto s = srv.start(); !s) {
    std::cerr << "overlay-dnsd: " << s.err().message << "\n";
    return 1;
  }
  std::cout << "ready";
  for (const auto& ep : srv.bound_endpoints()) std::cout << " " << ep.to_string();
  std::cout << std::endl;
  int rc = run(srv, o, sig_fd.get());
  srv.stop();
  auto st = srv.stats();
  std::cerr << "overlay-dnsd: udp=" << st.udp_queries << " tcp=" << st.tcp_queries
            << " answered=" << st.answered << " forwarded=" << st.forwarded
            << " upstream_failures=" << st.upstream_failures << " dropped=" << st.dropped
            << " refused=" << st.refused << " rate_limited=" << st.rate_limited << " spoofed=" << st.spoofed
            << "\n";
  return rc;
}
