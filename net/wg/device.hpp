// device: our userspace WireGuard interface. Owns a TUN, a UDP socket, the
// UAPI server and four threads:
//
//   tun->udp   reads IP packets from the TUN in batches (TSO super-packets
//              cut into segments), routes them through the allowed-ips of
//              the current snapshot, encrypts, sendmmsg (UDP GSO trains)
//   udp->tun   recvmmsg batches (UDP GRO); transport data is decrypted,
//              source-checked, coalesced per TCP flow and written to the
//              TUN as GSO packets; handshake messages go to the
//              handshake queue; anything that is not WireGuard (STUN...)
//              goes to the foreign-datagram handler
//   handshake  MAC1/cookie checks and the Noise handshake, off the data path
//              so a flood of initiations cannot stall transport data
//   timers     every 100 ms polls each peer's timer machine
//
// tun->udp and udp->tun are pinned to two different CPUs unless
// device_options::pin_io_threads is off (cpu_pin.hpp explains why).
//
// The packet path reads an immutable `snapshot` (device_state.hpp) swapped
// atomically by the control API; control calls are serialised by one mutex.
// The destructor stops and joins every thread and closes every fd.
//
// Timers (what the timers thread drives, per peer, via peer_protocol::poll):
// handshake retransmit, keepalive, new handshake, zero keys, persistent
// keepalive — see net/wg/timers.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/atomic_shared_ptr.hpp"
#include "core/error.hpp"
#include "net/ip.hpp"
#include "net/wg/clock.hpp"
#include "net/wg/cookie.hpp"
#include "net/wg/device_config.hpp"
#include "net/wg/device_state.hpp"
#include "net/wg/index_table.hpp"
#include "net/wg/relay_hook.hpp"
#include "net/wg/tun.hpp"
#include "net/wg/uapi.hpp"
#include "net/wg/uapi_server.hpp"
#include "net/wg/udp.hpp"
#include "net/wg/unique_fd.hpp"

namespace overlayd::wg {

struct device_options {
  std::string name;                     // TUN name, 1..15 chars
  // 0 = follow the underlay (underlay_mtu.hpp) when configure_link, else
  // default_tun_mtu.
  uint32_t mtu = 0;
  std::vector<net::cidr> addresses;     // assigned to the TUN at creation
  uint16_t listen_port = 0;             // 0 = random; see device::listen_port()
  std::optional<secret_key> private_key;
  std::string uapi_dir = "/var/run/wireguard";  // empty = no UAPI socket
  bool configure_link = true;           // MTU, addresses, up over netlink
  bool offload = true;                  // TUN TSO/GSO offloads (offload.hpp)
  bool udp_offload = true;              // UDP GSO/GRO on the socket (udp.hpp)
  // Pin the tun->udp and udp->tun threads to two different CPUs of the
  // process's allowed set (device_io.cpp says why); off = the scheduler
  // places them.
  bool pin_io_threads = true;
  const clock* clk = nullptr;           // null = the system clocks
};

// Drop and event counters (monotonic, for status and tests).
struct device_counters {
  uint64_t rx_malformed = 0;     // not a valid WireGuard message
  uint64_t rx_unauthenticated = 0;  // unknown index, failed AEAD, replay
  uint64_t rx_source_rejected = 0;  // inner source not in the peer's allowed-ips
  uint64_t rx_handshake_dropped = 0;  // handshake queue full, bad MAC, failed
  uint64_t rx_handshake_rate_limited = 0;  // under load, over the source's 20/s
  uint64_t rx_cookie_replies_sent = 0;
  uint64_t rx_foreign = 0;       // handed to the foreign-datagram handler
  uint64_t tx_no_route = 0;      // TUN packet with no matching allowed-ip
  uint64_t tx_oversize = 0;      // TUN packet larger than the MTU
  uint64_t tx_no_endpoint = 0;
  uint64_t tx_staged_dropped = 0;
  uint64_t tx_send_failed = 0;
  uint64_t tun_write_failed = 0;
  // Work done (syscalls per packet is what limits a userspace data plane).
  uint64_t tun_reads = 0;       // read() calls that returned a packet
  uint64_t tun_writes = 0;      // write() calls (a coalesced GSO packet is one)
  uint64_t tx_packets = 0;      // transport messages sent by the tun->udp thread
  uint64_t tx_sendmmsg = 0;     // batches flushed by the tun->udp thread
  uint64_t rx_packets = 0;      // transport messages received
  uint64_t rx_recvmmsg = 0;     // non-empty recvmmsg batches
};

// A datagram on the device's UDP socket that is not WireGuard (a STUN
// response, a relay frame...). Called on the udp->tun thread: return fast.
using foreign_datagram_handler =
    std::function<void(std::span<const uint8_t> data, const net::endpoint& from)>;

class device : public uapi_handler {
 public:
  static result<std::unique_ptr<device>> create(device_options opts);
  ~device() override;
  device(const device&) = delete;
  device& operator=(const device&) = delete;

  const std::string& name() const noexcept { return tun_.name(); }
  uint32_t mtu() const noexcept { return mtu_; }
  uint16_t listen_port() const;
  crypto::public_key public_key() const;  // zero if no private key

  // --- control API (thread-safe; each call is atomic for the packet path) ---
  // The general form; everything below is a shorthand for one update.
  status apply(const device_update& u);
  status set_private_key(const secret_key& sk);
  // Rebinds the UDP socket; returns the bound port (useful with 0).
  result<uint16_t> set_listen_port(uint16_t port);
  // Adds the peer or updates it in place (sessions survive).
  status upsert_peer(const peer_update& p);
  status remove_peer(const crypto::public_key& k);
  status add_allowed_ip(const crypto::public_key& k, const net::cidr& c);
  status remove_allowed_ip(const crypto::public_key& k, const net::cidr& c);
  // A /32 or /128 extra address on the TUN (idempotent).
  status add_alias(const net::ip_address& ip);
  status remove_alias(const net::ip_address& ip);

  device_status current_status() const;
  // Every allowed-IP prefix of every peer (one walk of the table).
  std::vector<net::cidr> allowed_ips() const;
  // The peer whose allowed IPs hold exactly `c`, if any.
  std::optional<crypto::public_key> allowed_ip_owner(const net::cidr& c) const;
  std::optional<peer_status> peer(const crypto::public_key& k) const;
  // Sends a handshake initiation now, session or not, to `to` (default: the
  // peer's current endpoint) without changing the endpoint: NAT traversal
  // probing a new path for a peer it already talks to (the answer, if any,
  // moves the endpoint by roaming). Without `to`, at most one per
  // REKEY_TIMEOUT per peer, as the protocol allows (sooner is a no-op); a
  // probe to an address is paced by its caller instead. The protocol's
  // timers retransmit it, to the endpoint, like any initiation.
  overlayd::status initiate_handshake(const crypto::public_key& k,
                                      std::optional<net::endpoint> to = std::nullopt);
  // True iff the peer completed a handshake at or after `since`.
  bool check_peer_handshake(const crypto::public_key& k,
                            std::chrono::system_clock::time_point since) const;
  device_counters counters() const;
  // Fuzzing and tests: handles `d` (modified in place, as the receive thread's
  // buffer is) exactly as the udp->tun thread handles a datagram from `src`.
  void handle_datagram_for_test(std::span<uint8_t> d, const net::endpoint& src);

  // --- NAT helper hook ---
  void set_foreign_datagram_handler(foreign_datagram_handler h);
  // Sends a raw datagram from the device's UDP socket (same source port).
  overlayd::status send_raw(std::span<const uint8_t> data, const net::endpoint& to);
  // The same with this one datagram's IP TTL / hop limit set to `ttl`: a NAT
  // punch that opens our NAT's mapping but must die before the far NAT (where
  // it would leave a conntrack entry that takes the port the far side's own
  // mapping needs). Per datagram (a control message): the socket's TTL, and
  // so the data path's, is untouched.
  overlayd::status send_raw(std::span<const uint8_t> data, const net::endpoint& to, int ttl);
  // Relayed peers (relay_hook.hpp): packets to an endpoint the hook claims
  // go to the relay wrapped; relay data frames come back as WireGuard from
  // that endpoint. Null removes it. Thread-safe, takes effect at once.
  void set_relay_hook(std::shared_ptr<const relay_hook> h);

  // uapi_handler
  device_status uapi_get() override { return current_status(); }
  overlayd::status uapi_set(const device_update& u) override { return apply(u); }

  struct impl;  // the I/O threads (device_io.hpp/.cpp); opaque to users

 private:
  device(tun_device tun, std::shared_ptr<udp_socket> udp, device_options& opts);
  overlayd::status apply_locked(const device_update& u);
  void switch_socket_locked(std::shared_ptr<udp_socket> s);
  void start_threads();
  void stop_threads();

  // Packet-path state: each a pointer copied under a spin lock held for
  // that copy only (core/atomic_shared_ptr.hpp says why not std::atomic).
  atomic_shared_ptr<const snapshot> snap_;
  atomic_shared_ptr<udp_socket> udp_;
  atomic_shared_ptr<const foreign_datagram_handler> foreign_;
  atomic_shared_ptr<const relay_hook> relay_;
  std::atomic<bool> relay_set_{false};  // cheap "no hook" check for the packet path

  tun_device tun_;
  uint32_t mtu_;
  bool configure_link_ = true;
  std::set<net::endpoint> warned_paths_;  // guarded by ctl_mu_
  void warn_small_paths(const device_update& u);  // ctl_mu_ held
  bool udp_offload_;
  system_clock_source system_clock_;
  const clock& clock_;
  index_table indices_;
  cookie_checker cookies_;
  std::unique_ptr<impl> io_;

  mutable std::mutex ctl_mu_;  // guards: builder_, aliases_, uapi_, every snapshot change
  snapshot_builder builder_;
  std::set<net::ip_address> aliases_;
  std::unique_ptr<uapi_server> uapi_;
};

}  // namespace overlayd::wg
