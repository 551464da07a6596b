// The DNS server's control calls racing its event loop and TCP threads, for
// ThreadSanitizer (tests/tsan_tests; they pass, more slowly, anywhere):
// listeners added and removed, settings swapped, the store rewritten and the
// server stopped and started again while clients keep asking over UDP and
// TCP. Loopback only, bounded in time and in queries.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "net/dns/message.hpp"
#include "net/dns/server.hpp"
#include "net/dns/socket.hpp"

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::net::dns;
using namespace std::chrono_literals;

namespace {

ip_address IP(const char* s) { return ip_address::parse(s).value(); }

std::vector<uint8_t> query(const char* qname, uint16_t id) {
  message m;
  m.hdr.id = id;
  m.hdr.rd = true;
  m.questions.push_back({name::parse(qname).value(), rr_type::a, rr_class::in});
  return serialize(m);
}

// One UDP query, a short wait for the answer; true if one came back.
bool ask_udp(int fd, const endpoint& to, uint16_t id) {
  auto q = query("web.overlay", id);
  sockaddr_storage ss{};
  socklen_t len = to.to_sockaddr(ss);
  if (::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&ss), len) < 0) return false;
  uint8_t buf[1500];
  return ::recv(fd, buf, sizeof buf, 0) > 0;
}

bool ask_tcp(const endpoint& to) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_storage ss{};
  socklen_t len = to.to_sockaddr(ss);
  ::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len);
  auto until = std::chrono::steady_clock::now() + 300ms;
  if (wait_fd(fd.get(), true, -1, until) != wait_result::ready) return false;
  if (!write_framed(fd.get(), query("web.overlay", 7), -1, until)) return false;
  auto r = read_framed(fd.get(), -1, until);
  return r && !r->empty();
}

unique_fd client_socket() {
  unique_fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  timeval tv{0, 20000};  // 20 ms: a query lost to a removed listener is not waited for
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

TEST_CASE("DNS server: listeners, settings and restarts change while queries arrive") {
  auto store = std::make_shared<record_store>();
  REQUIRE(store->set("web", IP("10.0.0.5")).ok());
  const endpoint lo0(IP("127.0.0.1"), 0);
  server srv(store, server_config{"overlay", 30s, {lo0}, {}, 200ms});
  REQUIRE(srv.start().ok());

  // The clients aim at whatever is bound right now (it changes under them).
  std::atomic<bool> stop{false};
  std::atomic<int> udp_answers{0}, tcp_answers{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t)
    clients.emplace_back([&, t] {
      auto fd = client_socket();
      for (uint16_t i = 0; i < 4000 && !stop; ++i) {
        auto eps = srv.bound_endpoints();
        if (eps.empty()) {
          std::this_thread::sleep_for(1ms);
          continue;
        }
        const auto& ep = eps[i % eps.size()];
        if (t == 1 && i % 8 == 0) {
          if (ask_tcp(ep)) ++tcp_answers;
        } else if (ask_udp(fd.get(), ep, i)) {
          ++udp_answers;
        }
      }
    });

  // The control side: what the dns actor and the engine do to a running server.
  auto deadline = std::chrono::steady_clock::now() + 1500ms;
  int rounds = 0;
  for (; rounds < 300 && std::chrono::steady_clock::now() < deadline; ++rounds) {
    // A listener added while the loop is busy with the others, then removed.
    REQUIRE(srv.add_listen(endpoint(IP("127.0.0.2"), 0)).ok());
    REQUIRE(srv.set_domain(rounds % 2 ? "overlay" : "cluster.local").ok());
    REQUIRE(srv.add_domain("alias" + std::to_string(rounds % 4) + ".test").ok());
    REQUIRE(srv.allow_recursion(*cidr::parse("10.1.0.0/16"), rounds % 2 == 0).ok());
    REQUIRE(srv.set_upstreams({}).ok());
    srv.set_ttl(std::chrono::seconds(10 + rounds % 5));
    REQUIRE(store->set("n" + std::to_string(rounds % 16), ip_address::v4(0x0A000000u + rounds)).ok());
    (void)srv.stats();
    std::this_thread::sleep_for(2ms);
    REQUIRE(srv.remove_listen(endpoint(IP("127.0.0.2"), 0)).ok());
    if (rounds % 20 == 19) {  // a restart under load
      srv.stop();
      REQUIRE(srv.start().ok());
    }
  }
  stop = true;
  for (auto& c : clients) c.join();
  srv.stop();
  MESSAGE(rounds << " control rounds, " << udp_answers.load() << " UDP and " << tcp_answers.load()
                 << " TCP answers");
  CHECK(rounds > 10);
  CHECK(udp_answers > 0);
  CHECK(tcp_answers > 0);
}
