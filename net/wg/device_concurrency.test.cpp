// The device's control API racing its four threads, for ThreadSanitizer
// (tests/tsan_tests; the test passes anywhere, root needed for the TUNs):
// two devices on loopback exchange packets both ways while the control side
// adds and removes allowed IPs and peers, moves endpoints, forces new
// handshakes (session keys rotate), rotates a private key, rebinds the UDP
// socket, swaps the relay hook and the foreign-datagram handler, and reads
// status and counters. Bounded: about 1.5 s of churn, then traffic must
// flow again both ways.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "crypto/keys.hpp"
#include "net/wg/device.hpp"
#include "net/wg/unique_fd.hpp"

using namespace overlayd;
using namespace std::chrono_literals;

namespace {

net::cidr C(const std::string& s) { return *net::cidr::parse(s); }

std::unique_ptr<wg::device> make_device(const std::string& name, const std::string& cidr) {
  wg::device_options o;
  o.name = name;
  o.uapi_dir = "";
  o.addresses = {C(cidr)};
  o.private_key = crypto::generate_private_key();
  o.pin_io_threads = false;
  auto d = wg::device::create(o);
  REQUIRE(d.ok());
  return std::move(*d);
}

// Claims no endpoint: swapping it in and out only exercises the hook's
// publication to the packet path.
class idle_hook : public wg::relay_hook {
 public:
  bool relays(const net::endpoint&) const override { return false; }
  bool wrap(const net::endpoint&, std::span<const uint8_t>, std::vector<uint8_t>&, net::endpoint&) const override {
    return false;
  }
  std::optional<unwrapped> unwrap(std::span<const uint8_t>, const net::endpoint&) const override {
    return std::nullopt;
  }
};

// Sends small UDP datagrams to `to` (routed into a TUN by the kernel) until
// stopped or `limit` are sent.
struct traffic {
  wg::unique_fd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  sockaddr_in dst{};
  std::atomic<bool> stop{false};
  std::thread t;

  explicit traffic(const std::string& to) {
    dst.sin_family = AF_INET;
    dst.sin_port = htons(9);
    REQUIRE(::inet_pton(AF_INET, to.c_str(), &dst.sin_addr) == 1);
  }
  void start(int limit) {
    t = std::thread([this, limit] {
      char payload[200] = "tsan";
      for (int i = 0; i < limit && !stop; ++i) {
        ::sendto(fd.get(), payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
        if (i % 16 == 15) std::this_thread::sleep_for(200us);
      }
    });
  }
  void finish() {
    stop = true;
    if (t.joinable()) t.join();
  }
  ~traffic() { finish(); }
  void send_one() { ::sendto(fd.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst); }
};

}  // namespace

TEST_CASE("device: peers, allowed IPs, endpoints and keys change while packets flow both ways") {
  if (::geteuid() != 0) return;  // needs CAP_NET_ADMIN for the TUNs
  const std::string tag = std::to_string(::getpid() % 200);
  const std::string net_a = "10.241." + tag + ".", net_b = "10.242." + tag + ".";
  const std::string suffix = std::to_string(::getpid() % 100000);
  auto a = make_device("wgca" + suffix, net_a + "1/24");
  auto b = make_device("wgcb" + suffix, net_b + "1/24");
  auto lo = [](uint16_t port) { return net::endpoint(*net::ip_address::parse("127.0.0.1"), port); };

  // A sends net_a.9 to B; B sends net_b.9 to A. Each side's inner source
  // (its TUN address) is in the other's allowed IPs.
  auto peer_b = [&] {
    wg::peer_update p;
    p.key = b->public_key();
    p.endpoint = lo(b->listen_port());
    p.allowed_ips = {C(net_a + "9/32"), C(net_b + "0/24")};
    return p;
  };
  auto peer_a = [&] {
    wg::peer_update p;
    p.key = a->public_key();
    p.endpoint = lo(a->listen_port());
    p.allowed_ips = {C(net_b + "9/32"), C(net_a + "0/24")};
    return p;
  };
  REQUIRE(a->upsert_peer(peer_b()).ok());
  REQUIRE(b->upsert_peer(peer_a()).ok());
  REQUIRE(a->initiate_handshake(b->public_key()).ok());

  traffic to_b(net_a + "9"), to_a(net_b + "9");
  to_b.start(200000);
  to_a.start(200000);

  std::atomic<size_t> foreign_seen{0};
  const auto hook = std::make_shared<idle_hook>();
  const auto deadline = std::chrono::steady_clock::now() + 1500ms;
  int round = 0;
  for (; round < 400 && std::chrono::steady_clock::now() < deadline; ++round) {
    // Allowed IPs of a live peer, added and taken away.
    const auto extra = C("10.243." + std::to_string(round % 250) + ".0/24");
    REQUIRE(a->add_allowed_ip(b->public_key(), extra).ok());
    REQUIRE(b->add_allowed_ip(a->public_key(), C("10.244." + std::to_string(round % 250) + ".0/24")).ok());
    // A third peer comes and goes in one atomic update, with a live peer's
    // endpoint and keepalive rewritten in place (sessions survive).
    const auto other = crypto::public_from_private(crypto::generate_private_key());
    wg::device_update u;
    wg::peer_update third;
    third.key = other;
    third.endpoint = lo(9);
    third.allowed_ips = {C("10.245." + std::to_string(round % 250) + ".0/24")};
    auto live = peer_b();
    live.update_only = true;
    live.persistent_keepalive = round % 2 ? 1 : 0;
    u.peers = {third, live};
    REQUIRE(a->apply(u).ok());
    (void)a->current_status();
    (void)b->peer(a->public_key());
    (void)a->counters();
    (void)a->check_peer_handshake(b->public_key(), std::chrono::system_clock::now());
    std::this_thread::sleep_for(1ms);
    REQUIRE(a->remove_allowed_ip(b->public_key(), extra).ok());
    REQUIRE(a->remove_peer(other).ok());
    // Session keys rotate under traffic: new handshakes from either side.
    if (round % 10 == 0) (void)a->initiate_handshake(b->public_key());
    if (round % 10 == 5) (void)b->initiate_handshake(a->public_key());
    // The hooks the NAT side installs, swapped while datagrams arrive.
    if (round % 4 == 0) a->set_relay_hook(round % 8 ? nullptr : hook);
    if (round % 4 == 2)
      b->set_foreign_datagram_handler(round % 8 == 2 ? wg::foreign_datagram_handler{}
                                                     : [&](std::span<const uint8_t>, const net::endpoint&) {
                                                         ++foreign_seen;
                                                       });
    // Private key rotation: A takes a new key, B replaces A's old peer.
    if (round % 50 == 25) {
      const auto old_key = a->public_key();
      REQUIRE(a->set_private_key(wg::secret_key(crypto::generate_private_key().span())).ok());
      wg::device_update ub;
      wg::peer_update gone;
      gone.key = old_key;
      gone.remove = true;
      ub.peers = {gone, peer_a()};
      REQUIRE(b->apply(ub).ok());
      (void)a->initiate_handshake(b->public_key());
    }
    // A new UDP socket under the receive thread; B follows the new port.
    if (round % 100 == 60) {
      auto port = a->set_listen_port(0);
      REQUIRE(port.ok());
      REQUIRE(b->upsert_peer(peer_a()).ok());
    }
  }
  to_b.finish();
  to_a.finish();
  a->set_relay_hook(nullptr);
  MESSAGE(round << " control rounds; A sent " << a->counters().tx_packets << ", B sent "
                << b->counters().tx_packets << " transport messages");
  CHECK(round > 20);

  // Calm again: one more handshake, then packets get through both ways.
  const auto since = std::chrono::system_clock::now() - 1s;
  REQUIRE(a->initiate_handshake(b->public_key()).ok());
  for (int i = 0; i < 300 && !(a->check_peer_handshake(b->public_key(), since) &&
                               b->check_peer_handshake(a->public_key(), since));
       ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(a->check_peer_handshake(b->public_key(), since));
  const auto b_writes = b->counters().tun_writes, a_writes = a->counters().tun_writes;
  for (int i = 0; i < 300 && (b->counters().tun_writes == b_writes || a->counters().tun_writes == a_writes); ++i) {
    to_b.send_one();
    to_a.send_one();
    std::this_thread::sleep_for(10ms);
  }
  CHECK(b->counters().tun_writes > b_writes);
  CHECK(a->counters().tun_writes > a_writes);
}
