// Internal to the device: its I/O threads and their shared state. Only
// device.cpp and device_io.cpp include this.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "net/wg/device.hpp"
#include "net/wg/handshake_limiter.hpp"
#include "net/wg/handshake_queue.hpp"
#include "net/wg/offload.hpp"

namespace overlayd::wg {

// Handshake messages waiting for the handshake thread; beyond this many the
// newest are dropped (a flood cannot grow memory). The priority lane holds
// answers to handshakes we started (handshake_queue.hpp).
inline constexpr size_t max_queued_handshakes = 4096;
inline constexpr size_t max_queued_priority_handshakes = 1024;
// The handshake thread runs at this niceness: under a flood its work (cookie
// replies, DH) yields the CPU to the packet threads of established peers.
inline constexpr int handshake_thread_nice = 10;
// With this many queued we are "under load": only initiations/responses with
// a valid cookie (MAC2) are processed, the rest get a cookie reply.
inline constexpr size_t under_load_queue_len = max_queued_handshakes / 8;
// Once under load, stay so this long after the queue drained.
inline constexpr std::chrono::seconds under_load_linger{1};
inline constexpr std::chrono::milliseconds timer_tick{100};

struct handshake_item {
  std::array<uint8_t, initiation_size> bytes;  // the largest handshake message
  size_t len = 0;
  net::endpoint src;
};

struct device::impl {
  explicit impl(device& d) : dev(d) {}

  device& dev;
  unique_fd tx_wake;  // eventfd: stop the tun->udp thread
  unique_fd rx_wake;  // eventfd: stop or rebind the udp->tun thread
  std::atomic<bool> stopping{false};

  std::mutex hq_mu;  // guards hq
  std::condition_variable hq_cv;
  handshake_queue<handshake_item> hq{max_queued_handshakes, max_queued_priority_handshakes};
  handshake_limiter hs_limiter;  // handshake thread only
  std::atomic<int64_t> under_load_until_ns{0};  // steady-clock ns

  std::mutex timer_mu;  // guards nothing; pairs with timer_cv for the stop wait
  std::condition_variable timer_cv;

  struct atomic_counters {
    std::atomic<uint64_t> rx_malformed{0}, rx_unauthenticated{0}, rx_source_rejected{0},
        rx_handshake_dropped{0}, rx_handshake_rate_limited{0}, rx_cookie_replies_sent{0}, rx_foreign{0}, tx_no_route{0},
        tx_oversize{0}, tx_no_endpoint{0}, tx_staged_dropped{0}, tx_send_failed{0},
        tun_write_failed{0}, tun_reads{0}, tun_writes{0}, tx_packets{0}, tx_sendmmsg{0},
        rx_packets{0}, rx_recvmmsg{0};
  } c;

  std::thread tx_thread, rx_thread, hs_thread, timer_thread;
  // CPU placement of tx_thread (slot) and rx_thread (slot + 1); see
  // cpu_pin.hpp. Negative = not pinned.
  long cpu_slot = -1;

  void run_tx();
  void run_rx();
  void run_handshakes();
  void run_timers();

  // Helpers shared by the threads.
  void handle_datagram(const snapshot& s, uint8_t* buf, size_t len, const net::endpoint& src);
  void handle_transport(const snapshot& s, uint8_t* buf, size_t len, const net::endpoint& src);
  void handle_handshake(const handshake_item& it);
  // Writes a decrypted packet to the TUN, through the coalescer if offloads
  // are on (the receive thread flushes it at the end of each batch).
  void deliver(std::span<const uint8_t> pkt);
  void write_tun(std::span<const uint8_t> bytes);
  tcp_coalescer* rx_coalescer = nullptr;  // owned by run_rx; only that thread uses it
  bool under_load();
  // Sends a handshake or keepalive-sized message to the peer's endpoint.
  void send_to_peer(device_peer& p, std::span<const uint8_t> msg);
  void send_keepalive(device_peer& p);
  // Sends one message to an endpoint: wrapped to the relay when the relay
  // hook claims `to` (relay_hook.hpp), else directly. False = send failed.
  bool send_to_endpoint(const udp_socket& udp, std::span<const uint8_t> msg, const net::endpoint& to);
  // A relay data frame's inner WireGuard packet and virtual source, if the
  // hook claims the datagram.
  std::optional<relay_hook::unwrapped> unwrap_relayed(const uint8_t* buf, size_t len, const net::endpoint& src);
  // The relay hook, or null (one relaxed load when none is installed).
  std::shared_ptr<const relay_hook> relay() const {
    if (!dev.relay_set_.load(std::memory_order_relaxed)) return nullptr;
    return dev.relay_.load();
  }
  // Encrypts and sends whatever the peer staged while it had no session;
  // with nothing staged, a keepalive if `keepalive_if_empty`.
  void flush_staged(device_peer& p, bool keepalive_if_empty);
  void bump(std::atomic<uint64_t>& ctr) { ctr.fetch_add(1, std::memory_order_relaxed); }
};

}  // namespace overlayd::wg
