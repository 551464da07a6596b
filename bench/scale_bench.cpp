// bench/scale: how the control plane grows with the node's size, against a
// running daemon (bench/scale.sh starts one in a namespace of its own).
//
//   build/bench/bench_scale --socket PATH [--peers N] [--step S]
//                           [--pids FILE] [--service NAME]
//
// Curves, one line per step:
//   peers: add_peer p50/p99 for the next S peers, then `status` (median of 3)
//          and add_allowed_ip/remove_allowed_ip p50 at that size;
//   attach (with --pids: one container pid per line, each in a network
//          namespace of its own): attach_container p50/p99 per step of S,
//          50 containers to a service (<prefix>0, <prefix>1, ...: a service
//          bridge is a /26), each service set up before its first attach.
// Each peer is a /32 of 10.210.0.0/16 (outside the daemon's cluster, so no
// route conflicts), endpoint 127.0.0.1:9 (nothing is sent: no packet is
// routed to a peer and keepalive is off).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/keys.hpp"
#include "ipc/client.hpp"

using namespace overlayd;
using clk = std::chrono::steady_clock;

namespace {
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

double ms_since(clk::time_point t0) { return std::chrono::duration<double, std::milli>(clk::now() - t0).count(); }

// A distinct, valid-looking key per peer (any 32 bytes are a Curve25519
// public key as far as the daemon is concerned).
std::string key_for(uint32_t i) {
  std::array<uint8_t, 32> k{};
  for (size_t b = 0; b < k.size(); ++b) k[b] = static_cast<uint8_t>((i * 2654435761u >> (b % 4 * 8)) + b * 31 + 1);
  std::memcpy(k.data(), &i, sizeof i);
  return crypto::key_to_base64(k);
}

std::string ip32(uint32_t i) {  // 10.210.x.y, never .0
  const uint32_t n = i + 1;
  return "10.210." + std::to_string((n >> 8) & 255) + "." + std::to_string(n & 255) + "/32";
}

bool ok(const result<ipc::response>& r) { return r && !std::holds_alternative<ipc::resp::err>(*r); }
std::string why(const result<ipc::response>& r) {
  if (!r) return r.err().message;
  if (auto* e = std::get_if<ipc::resp::err>(&*r)) return e->message;
  return "?";
}
}  // namespace

int main(int argc, char** argv) {
  std::string sock, pids_file, service = "c";
  uint32_t peers = 10000, step = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--socket")) sock = argv[i + 1];
    if (!std::strcmp(argv[i], "--peers")) peers = static_cast<uint32_t>(std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--step")) step = static_cast<uint32_t>(std::max(1, std::atoi(argv[i + 1])));
    if (!std::strcmp(argv[i], "--pids")) pids_file = argv[i + 1];
    if (!std::strcmp(argv[i], "--service")) service = argv[i + 1];
  }
  if (sock.empty()) {
    std::fprintf(stderr, "usage: bench_scale --socket PATH [--peers N] [--step S] [--pids FILE]\n");
    return 2;
  }
  auto c = ipc::client::connect(sock, std::chrono::seconds(10));
  if (!c) {
    std::fprintf(stderr, "connect %s: %s\n", sock.c_str(), c.err().message.c_str());
    return 2;
  }
  auto& cl = **c;

  if (peers > 0) {
    std::printf("%8s %14s %14s %12s %16s\n", "peers", "add_peer p50", "add_peer p99", "status", "allowed_ip p50");
    for (uint32_t base = 0; base < peers; base += step) {
      std::vector<double> add;
      for (uint32_t i = base; i < std::min(peers, base + step); ++i) {
        ipc::req::add_peer a;
        a.peer.public_key = key_for(i);
        a.peer.endpoint = "127.0.0.1:9";
        a.peer.allowed_ips = ip32(i);
        const auto t0 = clk::now();
        auto r = cl.call(a);
        add.push_back(ms_since(t0));
        if (!ok(r)) {
          std::fprintf(stderr, "add_peer %u: %s\n", i, why(r).c_str());
          return 1;
        }
      }
      std::vector<double> st;
      for (int k = 0; k < 3; ++k) {
        const auto t0 = clk::now();
        auto r = cl.call(ipc::req::status{});
        st.push_back(ms_since(t0));
        if (!ok(r)) return 1;
      }
      // Allowed-IP changes at this size: a /32 moved onto peer 0 and back off.
      std::vector<double> aip;
      for (uint32_t k = 0; k < 20; ++k) {
        ipc::req::add_allowed_ip x{key_for(0), "10.211." + std::to_string(k) + ".1/32", {}, false};
        auto t0 = clk::now();
        auto r = cl.call(x);
        aip.push_back(ms_since(t0));
        if (!ok(r)) {
          std::fprintf(stderr, "add_allowed_ip: %s\n", why(r).c_str());
          return 1;
        }
        ipc::req::remove_allowed_ip y{key_for(0), x.cidr, {}, false};
        t0 = clk::now();
        r = cl.call(y);
        aip.push_back(ms_since(t0));
        if (!ok(r)) return 1;
      }
      std::printf("%8u %11.3f ms %11.3f ms %9.2f ms %13.3f ms\n", std::min(peers, base + step), pct(add, 0.5),
                  pct(add, 0.99), pct(st, 0.5), pct(aip, 0.5));
      std::fflush(stdout);
    }
  }

  if (!pids_file.empty()) {
    std::ifstream in(pids_file);
    std::vector<uint32_t> pids;
    for (uint32_t p; in >> p;) pids.push_back(p);
    std::printf("%10s %16s %16s\n", "containers", "attach p50", "attach p99");
    std::vector<double> lat;
    for (size_t i = 0; i < pids.size(); ++i) {
      ipc::req::attach_container a;
      a.handle = ipc::linux_pid{pids[i]};
      a.service = service + std::to_string(i / 50);
      if (i % 50 == 0) {
        auto r = cl.call(ipc::req::setup_service_overlay{a.service, ipc::overlay_mode::auto_});
        if (!ok(r)) {
          std::fprintf(stderr, "setup %s: %s\n", a.service.c_str(), why(r).c_str());
          return 1;
        }
      }
      const auto t0 = clk::now();
      auto r = cl.call(a);
      lat.push_back(ms_since(t0));
      if (!ok(r)) {
        std::fprintf(stderr, "attach pid %u: %s\n", pids[i], why(r).c_str());
        return 1;
      }
      if ((i + 1) % step == 0 || i + 1 == pids.size()) {
        std::printf("%10zu %13.2f ms %13.2f ms\n", i + 1, pct(lat, 0.5), pct(lat, 0.99));
        std::fflush(stdout);
        lat.clear();
      }
    }
  }
  return 0;
}
