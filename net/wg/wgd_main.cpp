// overlay-wg: runs one of our userspace WireGuard devices standalone, for
// system tests and benchmarks (like `wireguard-go -f <ifname>`): creates the
// TUN, serves the UAPI socket so `wg` configures it, runs until SIGINT or
// SIGTERM, then tears everything down.
//
//   overlay-wg [-f] [--mtu 0] [--address 10.0.0.1/24]... [--port 0]
//              [--uapi-dir /var/run/wireguard] [--no-link] [--no-offload]
//              [--no-udp-offload] [--no-pin] [--clock-scale K] IFNAME
//
// --clock-scale K (tests only) runs the protocol's monotonic clock K times
// faster, so rekeys (REKEY_AFTER_TIME 120 s) happen every 120/K s of real
// time; wall time (TAI64N, `wg show` handshake times) stays real.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "net/wg/device.hpp"

namespace {

class scaled_clock final : public overlayd::wg::clock {
 public:
  explicit scaled_clock(double k) : k_(k), start_(std::chrono::steady_clock::now()) {}
  overlayd::wg::time_point now() const noexcept override {
    const auto real = std::chrono::steady_clock::now() - start_;
    return start_ + std::chrono::duration_cast<overlayd::wg::duration>(real * k_);
  }
  overlayd::wg::wall_time wall_now() const noexcept override { return std::chrono::system_clock::now(); }

 private:
  const double k_;
  const overlayd::wg::time_point start_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace overlayd;
  CLI::App app{"overlay-wg: a standalone userspace WireGuard device"};
  wg::device_options opts;
  std::vector<std::string> addrs;
  bool foreground = true;
  bool no_link = false;
  app.add_flag("-f,--foreground", foreground, "stay in the foreground (always)");
  app.add_option("--mtu", opts.mtu, "TUN MTU (0 = the underlay route's MTU minus 80, as wg-quick)")->capture_default_str();
  app.add_option("--address", addrs, "address/prefix for the TUN (repeatable)");
  app.add_option("--port", opts.listen_port, "UDP listen port (0 = random)");
  app.add_option("--uapi-dir", opts.uapi_dir, "directory of the UAPI socket")->capture_default_str();
  app.add_flag("--no-link", no_link, "leave MTU/addresses/link state to the caller");
  bool no_offload = false;
  app.add_flag("--no-offload", no_offload, "no TUN TSO/GSO offloads (one packet per syscall)");
  bool no_udp_offload = false;
  app.add_flag("--no-udp-offload", no_udp_offload, "no UDP GSO/GRO on the socket");
  bool no_pin = false;
  app.add_flag("--no-pin", no_pin, "let the scheduler place the I/O threads (no CPU pinning)");
  double clock_scale = 1.0;
  app.add_option("--clock-scale", clock_scale, "tests only: protocol clock runs this much faster")
      ->check(CLI::Range(1.0, 1000.0));
  app.add_option("ifname", opts.name, "interface name")->required();
  CLI11_PARSE(app, argc, argv);
  opts.configure_link = !no_link;
  opts.offload = !no_offload;
  opts.udp_offload = !no_udp_offload;
  opts.pin_io_threads = !no_pin;
  for (const auto& a : addrs) {
    auto c = net::cidr::parse(a);
    if (!c) {
      std::fprintf(stderr, "overlay-wg: %s\n", c.err().message.c_str());
      return 2;
    }
    opts.addresses.push_back(*c);
  }

  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  scaled_clock scaled(clock_scale);
  if (clock_scale != 1.0) opts.clk = &scaled;
  auto dev = wg::device::create(opts);
  if (!dev) {
    std::fprintf(stderr, "overlay-wg: %s\n", dev.err().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "overlay-wg: %s up, udp port %u\n", (*dev)->name().c_str(),
               unsigned{(*dev)->listen_port()});
  int sig = 0;
  sigwait(&stop, &sig);
  auto c = (*dev)->counters();
  std::fprintf(stderr,
               "overlay-wg: stopping; drops: rx_malformed=%llu rx_unauth=%llu rx_source=%llu "
               "rx_handshake=%llu rate_limited=%llu cookie_replies=%llu tx_no_route=%llu tx_oversize=%llu tx_no_endpoint=%llu "
               "tx_staged_dropped=%llu tx_send_failed=%llu tun_write_failed=%llu\n",
               (unsigned long long)c.rx_malformed, (unsigned long long)c.rx_unauthenticated,
               (unsigned long long)c.rx_source_rejected, (unsigned long long)c.rx_handshake_dropped,
               (unsigned long long)c.rx_handshake_rate_limited,
               (unsigned long long)c.rx_cookie_replies_sent, (unsigned long long)c.tx_no_route,
               (unsigned long long)c.tx_oversize,
               (unsigned long long)c.tx_no_endpoint, (unsigned long long)c.tx_staged_dropped,
               (unsigned long long)c.tx_send_failed, (unsigned long long)c.tun_write_failed);
  std::fprintf(stderr,
               "overlay-wg: work: tun_reads=%llu tx_packets=%llu tx_sendmmsg=%llu rx_recvmmsg=%llu "
               "rx_packets=%llu tun_writes=%llu\n",
               (unsigned long long)c.tun_reads, (unsigned long long)c.tx_packets,
               (unsigned long long)c.tx_sendmmsg, (unsigned long long)c.rx_recvmmsg,
               (unsigned long long)c.rx_packets, (unsigned long long)c.tun_writes);
  dev->reset();
  return 0;
}
