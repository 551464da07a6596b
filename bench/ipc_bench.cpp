// bench/ipc: request throughput and latency of the real daemon over its Unix
// socket, with the actor trace on and off, in one run.
//
//   build/bench/bench_ipc [--seconds S] [--pipeline N]
//
// Scenarios, each for S seconds per daemon:
//   status sequential      1 connection, one request at a time
//   status pipelined       1 connection, N requests in flight
//   alloc+release seq      1 connection, allocate_ip then release_ip
//   status 16 conns        16 connections, one at a time each
// Prints req/s and p50/p99 latency per scenario, then trace-on/off ratios.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ipc/client.hpp"
#include "tests/system/daemon_process.hpp"

using namespace overlayd;
using clk = std::chrono::steady_clock;

namespace {
struct figures {
  double rps = 0, p50_us = 0, p99_us = 0;
  uint64_t errors = 0;
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// One connection's loop; returns latencies in microseconds.
void run_conn(const std::string& sock, const char* what, int pipeline, double seconds,
              std::vector<double>& lat, uint64_t& done, uint64_t& errors) {
  auto c = ipc::client::connect(sock, std::chrono::seconds(10));
  if (!c) {
    ++errors;
    return;
  }
  const auto end = clk::now() + std::chrono::duration<double>(seconds);
  const bool alloc = std::strcmp(what, "alloc") == 0;
  while (clk::now() < end) {
    if (alloc) {
      auto t0 = clk::now();
      auto r = (*c)->call(ipc::req::allocate_ip{"bench", false});
      if (!r || !std::holds_alternative<ipc::resp::ip>(*r)) { ++errors; continue; }
      auto ip = std::get<ipc::resp::ip>(*r).ip;
      auto r2 = (*c)->call(ipc::req::release_ip{ip});
      if (!r2) ++errors;
      lat.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
      done += 2;
      continue;
    }
    std::vector<clk::time_point> sent;
    for (int i = 0; i < pipeline; ++i) {
      sent.push_back(clk::now());
      if (!(*c)->send(ipc::req::status{})) ++errors;
    }
    for (int i = 0; i < pipeline; ++i) {
      auto r = (*c)->receive();
      if (!r) { ++errors; return; }
      lat.push_back(std::chrono::duration<double, std::micro>(clk::now() - sent[i]).count());
      ++done;
    }
  }
}

figures scenario(const std::string& sock, const char* what, int conns, int pipeline, double seconds) {
  std::vector<std::vector<double>> lats(conns);
  std::vector<uint64_t> done(conns, 0), errs(conns, 0);
  std::vector<std::thread> ts;
  auto t0 = clk::now();
  for (int i = 0; i < conns; ++i)
    ts.emplace_back([&, i] { run_conn(sock, what, pipeline, seconds, lats[i], done[i], errs[i]); });
  for (auto& t : ts) t.join();
  double el = std::chrono::duration<double>(clk::now() - t0).count();
  std::vector<double> all;
  figures f;
  for (int i = 0; i < conns; ++i) {
    all.insert(all.end(), lats[i].begin(), lats[i].end());
    f.rps += static_cast<double>(done[i]);
    f.errors += errs[i];
  }
  f.rps /= el;
  f.p50_us = pct(all, 0.50);
  f.p99_us = pct(all, 0.99);
  return f;
}
}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int pipeline = 32;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--pipeline")) pipeline = std::atoi(argv[i + 1]);
  }
  struct sc { const char* name; const char* what; int conns; int pipeline; };
  const sc scs[] = {
      {"status sequential", "status", 1, 1},
      {"status pipelined", "status", 1, pipeline},
      {"alloc+release seq", "alloc", 1, 1},
      {"status 16 conns", "status", 16, 1},
  };
  std::vector<figures> on, off;
  for (int traced = 1; traced >= 0; --traced) {
    std::vector<std::string> extra;
    if (!traced) extra = {"--trace-capacity", "0"};
    testing::daemon_process d(traced ? "bench-on" : "bench-off", extra);
    std::printf("== trace %s\n", traced ? "on" : "off");
    for (auto& s : scs) {
      auto f = scenario(d.socket(), s.what, s.conns, s.pipeline, seconds);
      std::printf("%-20s %10.0f req/s  p50 %8.1f us  p99 %8.1f us  errors %llu\n", s.name, f.rps,
                  f.p50_us, f.p99_us, static_cast<unsigned long long>(f.errors));
      (traced ? on : off).push_back(f);
    }
  }
  std::printf("== trace on / trace off (throughput ratio; 1.00 = tracing is free)\n");
  for (size_t i = 0; i < on.size(); ++i)
    std::printf("%-20s %.2f\n", scs[i].name, off[i].rps > 0 ? on[i].rps / off[i].rps : 0.0);
  return 0;
}
