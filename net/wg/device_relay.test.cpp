// The device's relay hook (relay_hook.hpp) on two real devices: each sees
// the other only at a virtual "relayed" endpoint; a stand-in relay on
// loopback forwards the frames. The handshake, the keepalive and a packet
// read from A's TUN all travel wrapped through the relay, arrive as
// WireGuard from the virtual endpoint (roaming keeps it), and reach B's TUN.
// Without the hook the same endpoint gets the packets unwrapped. Needs root
// for the TUNs; skipped otherwise.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "crypto/keys.hpp"
#include "net/wg/device.hpp"
#include "net/wg/unique_fd.hpp"

using namespace overlayd;
using namespace std::chrono_literals;

namespace {

constexpr uint8_t frame_tag = 0xC9;  // a relay control type: never WireGuard

// Frames as "tag + packet" for one virtual peer endpoint and one server.
class test_hook : public wg::relay_hook {
 public:
  test_hook(net::endpoint peer_virtual, net::endpoint server) : peer_(peer_virtual), server_(server) {}
  bool relays(const net::endpoint& to) const override { return to == peer_; }
  bool wrap(const net::endpoint& to, std::span<const uint8_t> packet, std::vector<uint8_t>& frame,
            net::endpoint& server) const override {
    if (to != peer_) return false;
    frame.assign(1, frame_tag);
    frame.insert(frame.end(), packet.begin(), packet.end());
    server = server_;
    return true;
  }
  std::optional<unwrapped> unwrap(std::span<const uint8_t> d, const net::endpoint& from) const override {
    if (from != server_ || d.size() < 2 || d[0] != frame_tag) return std::nullopt;
    return unwrapped{1, d.size() - 1, peer_};
  }

 private:
  net::endpoint peer_, server_;
};

net::endpoint ep(const char* ip, uint16_t port) { return net::endpoint(*net::ip_address::parse(ip), port); }

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// Forwards every datagram from port a to port b and back (both on
// loopback), counting them, until stopped.
struct stand_in_relay {
  wg::unique_fd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  uint16_t port = 0, a = 0, b = 0;
  std::atomic<int> forwarded{0}, from_a{0}, not_framed{0};
  std::atomic<bool> stop{false};
  std::thread t;

  void start() {
    sockaddr_in s = loopback(0);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&s), sizeof s) == 0);
    socklen_t len = sizeof s;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&s), &len) == 0);
    port = ntohs(s.sin_port);
    t = std::thread([this] {
      uint8_t buf[65536];
      while (!stop) {
        pollfd p{fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 50) != 1) continue;
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) continue;
        if (buf[0] != frame_tag) ++not_framed;
        uint16_t src = ntohs(from.sin_port);
        if (src != a && src != b) continue;
        sockaddr_in to = loopback(src == a ? b : a);
        ::sendto(fd.get(), buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
        ++forwarded;
        if (src == a) ++from_a;
      }
    });
  }
  ~stand_in_relay() {
    stop = true;
    if (t.joinable()) t.join();
  }
};

// A bound loopback socket that nobody forwards: the virtual endpoints, so
// that a packet sent to one unwrapped stays on this host and can be seen.
struct sink {
  wg::unique_fd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  uint16_t port = 0;
  sink() {
    sockaddr_in s = loopback(0);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&s), sizeof s) == 0);
    socklen_t len = sizeof s;
    REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&s), &len) == 0);
    port = ntohs(s.sin_port);
  }
  // The first byte of the next datagram (-1 if none is queued).
  int next_first_byte() {
    uint8_t b[2048];
    ssize_t n = ::recv(fd.get(), b, sizeof b, 0);
    return n > 0 ? b[0] : -1;
  }
};

std::unique_ptr<wg::device> make_device(const std::string& name, const char* cidr) {
  wg::device_options o;
  o.name = name;
  o.uapi_dir = "";
  o.addresses = {*net::cidr::parse(cidr)};
  o.private_key = crypto::generate_private_key();
  auto d = wg::device::create(o);
  REQUIRE(d.ok());
  return std::move(*d);
}

}  // namespace

TEST_CASE("a relayed peer's packets go wrapped through the relay and come back as WireGuard from its endpoint") {
  if (::geteuid() != 0) return;
  const int tag = ::getpid() % 200;
  const std::string net_a = "10.251." + std::to_string(tag) + ".";
  const std::string net_b = "10.252." + std::to_string(tag) + ".";
  auto a = make_device("wgra" + std::to_string(::getpid() % 100000), (net_a + "1/24").c_str());
  auto b = make_device("wgrb" + std::to_string(::getpid() % 100000), (net_b + "1/24").c_str());

  stand_in_relay relay;
  relay.a = a->listen_port();
  relay.b = b->listen_port();
  relay.start();
  const auto server = ep("127.0.0.1", relay.port);
  // Virtual endpoints: sinks on loopback; only the relay connects the two
  // devices.
  sink sink_a, sink_b;
  const auto b_virtual = ep("127.0.0.1", sink_b.port), a_virtual = ep("127.0.0.1", sink_a.port);
  a->set_relay_hook(std::make_shared<test_hook>(b_virtual, server));
  b->set_relay_hook(std::make_shared<test_hook>(a_virtual, server));

  wg::peer_update pb;
  pb.key = b->public_key();
  pb.endpoint = b_virtual;
  pb.allowed_ips = {*net::cidr::parse(net_a + "9/32"), *net::cidr::parse(net_b + "0/24")};
  wg::peer_update pa;
  pa.key = a->public_key();
  pa.endpoint = a_virtual;
  pa.allowed_ips = {*net::cidr::parse(net_a + "1/32")};
  REQUIRE(b->upsert_peer(pa).ok());
  pb.persistent_keepalive = 1;  // fires now: with no session, a handshake initiation
  REQUIRE(a->upsert_peer(pb).ok());

  auto since = std::chrono::system_clock::now() - 1s;
  for (int i = 0; i < 500 && !(a->check_peer_handshake(b->public_key(), since) &&
                               b->check_peer_handshake(a->public_key(), since));
       ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(a->check_peer_handshake(b->public_key(), since));
  REQUIRE(b->check_peer_handshake(a->public_key(), since));
  // Roaming followed the authenticated source: the virtual endpoints.
  CHECK(a->peer(b->public_key())->endpoint == b_virtual);
  CHECK(b->peer(a->public_key())->endpoint == a_virtual);
  CHECK(relay.forwarded >= 2);  // initiation + response at least
  CHECK(relay.not_framed == 0);

  // A packet read from A's TUN (routed there by the kernel: the /24 is
  // A's) is encrypted on the tun->udp path and relayed to B's TUN.
  wg::unique_fd u(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(u.get() >= 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(9);
  REQUIRE(::inet_pton(AF_INET, (net_a + "9").c_str(), &dst.sin_addr) == 1);
  const auto writes_before = b->counters().tun_writes;
  for (int i = 0; i < 200 && b->counters().tun_writes == writes_before; ++i) {
    const char msg[] = "through the relay";
    ::sendto(u.get(), msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    std::this_thread::sleep_for(10ms);
  }
  CHECK(b->counters().tun_writes > writes_before);
  CHECK(a->counters().tx_packets >= 1);
  CHECK(relay.not_framed == 0);

  // Only WireGuard comes out of a frame: a frame from the relay carrying
  // anything else is not unwrapped but handed whole to the foreign handler.
  std::atomic<size_t> foreign_len{0};
  b->set_foreign_datagram_handler(
      [&](std::span<const uint8_t> d, const net::endpoint&) { foreign_len = d.size(); });
  const uint8_t not_wg[] = {frame_tag, 0xff, 'x', 'y'};
  sockaddr_in to_b = loopback(b->listen_port());
  REQUIRE(::sendto(relay.fd.get(), not_wg, sizeof not_wg, 0, reinterpret_cast<sockaddr*>(&to_b), sizeof to_b) ==
          ssize_t(sizeof not_wg));
  for (int i = 0; i < 200 && foreign_len == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(foreign_len == sizeof not_wg);
  b->set_foreign_datagram_handler(nullptr);

  // Nothing went to the virtual endpoints themselves.
  CHECK(sink_b.next_first_byte() == -1);
  CHECK(sink_a.next_first_byte() == -1);

  // Without the hook, the same endpoint gets plain WireGuard (transport,
  // type 4) and nothing more of A's reaches the relay.
  a->set_relay_hook(nullptr);
  const int from_a = relay.from_a;
  int first = -1;
  for (int i = 0; i < 200 && first == -1; ++i) {
    ::sendto(u.get(), "x", 1, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    std::this_thread::sleep_for(10ms);
    first = sink_b.next_first_byte();
  }
  CHECK(first == 4);
  CHECK(relay.from_a == from_a);
}

// Not relay-specific, but the same two-device setup: NAT traversal trying a
// new path for a peer it already has a session with needs a real handshake
// on that path, so initiate_handshake sends one, session or not.
TEST_CASE("initiate_handshake starts a new handshake with a peer that already has a session") {
  if (::geteuid() != 0) return;
  const int tag = ::getpid() % 200;
  auto a = make_device("wgia" + std::to_string(::getpid() % 100000), ("10.253." + std::to_string(tag) + ".1/24").c_str());
  auto b = make_device("wgib" + std::to_string(::getpid() % 100000), ("10.254." + std::to_string(tag) + ".1/24").c_str());
  wg::peer_update pb;
  pb.key = b->public_key();
  pb.endpoint = ep("127.0.0.1", b->listen_port());
  wg::peer_update pa;
  pa.key = a->public_key();
  pa.endpoint = ep("127.0.0.1", a->listen_port());
  REQUIRE(b->upsert_peer(pa).ok());
  REQUIRE(a->upsert_peer(pb).ok());
  auto both_since = [&](std::chrono::system_clock::time_point since) {
    for (int i = 0; i < 500 && !(a->check_peer_handshake(b->public_key(), since) &&
                                 b->check_peer_handshake(a->public_key(), since));
         ++i)
      std::this_thread::sleep_for(10ms);
    return a->check_peer_handshake(b->public_key(), since) && b->check_peer_handshake(a->public_key(), since);
  };
  // The first handshake: A initiates.
  const auto t0 = std::chrono::system_clock::now() - 1s;
  REQUIRE(a->initiate_handshake(b->public_key()).ok());
  REQUIRE(both_since(t0));
  // A session exists; B (which only responded so far) starts another one now.
  std::this_thread::sleep_for(1100ms);  // handshake times have one-second resolution
  const auto t1 = std::chrono::system_clock::now();
  CHECK_FALSE(a->check_peer_handshake(b->public_key(), t1));
  REQUIRE(b->initiate_handshake(a->public_key()).ok());
  CHECK(both_since(t1));
  // Unknown peers are an error naming the key.
  CHECK_FALSE(a->initiate_handshake(crypto::public_key{}).ok());
}
