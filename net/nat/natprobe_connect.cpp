#include "net/nat/natprobe_connect.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "net/nat/demux.hpp"
#include "net/nat/nat_traversal.hpp"
#include "net/nat/udp_socket.hpp"

namespace overlayd::net::nat {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One candidate per line: "<type> <ip:port> <priority>"; ends with "end".
std::optional<std::vector<candidate>> parse_candidates(const std::string& text) {
  std::istringstream in(text);
  std::vector<candidate> out;
  std::string type, addr;
  uint32_t prio = 0;
  while (in >> type) {
    if (type == "end") return out;
    if (!(in >> addr >> prio)) return std::nullopt;
    auto c = candidate_from_wire({type, addr, prio});
    if (c && out.size() < max_peer_candidates) out.push_back(*c);
  }
  return std::nullopt;  // not complete yet
}

// Drives nat_traversal exactly as the WireGuard device will, with a
// hello/ack exchange standing in for the WireGuard handshake.
class probe {
 public:
  probe(const natprobe_connect_args& a, udp_socket sock, std::unique_ptr<nat_traversal> nt)
      : a_(a), sock_(std::move(sock)), nt_(std::move(nt)) {}

  bool gather() {
    auto ifs = list_interface_addresses();
    nt_->refresh(ifs ? *ifs : std::vector<interface_address>{}, nat_clock::now());
    auto deadline = steady::now() + 10s;
    while (steady::now() < deadline) {
      pump(20ms);
      auto st = nt_->snapshot();
      bool srflx = false, relay = a_.relay.empty() && a_.turn.empty();
      for (const auto& c : st.candidates) {
        srflx |= c.type == candidate_type::server_reflexive;
        relay |= c.type == candidate_type::relay;
      }
      if (srflx && relay) return true;
      if (!st.problems.empty()) break;
    }
    for (const auto& p : nt_->snapshot().problems) std::cout << "problem " << p << "\n";
    return false;
  }

  void write_candidates() {
    std::ofstream out(a_.out + ".tmp");
    for (const auto& c : nt_->local_candidates()) {
      auto w = candidate_to_wire(c);
      out << w.candidate_type << " " << w.address << " " << w.priority << "\n";
      std::cout << "candidate " << w.candidate_type << " " << w.address << "\n";
    }
    out << "end\n";
    out.close();
    std::rename((a_.out + ".tmp").c_str(), a_.out.c_str());
    std::cout.flush();
  }

  // The device send path: relayed peers get wrapped, others go direct.
  // Messages are framed like a WireGuard data packet (type 4, three zero
  // bytes) so the demultiplexer treats them as WireGuard traffic.
  void send(const endpoint& to, std::string_view text, bool low_ttl = false) {
    bytes payload = {4, 0, 0, 0};
    put_bytes(payload, text);
    if (auto f = nt_->wrap(to, payload)) {
      (void)sock_.send_to(f->to, f->data);
      return;
    }
    if (low_ttl) set_ttl(a_.punch_ttl);
    (void)sock_.send_to(to, payload);
    if (low_ttl) set_ttl(64);
  }

  void set_ttl(int ttl) { (void)setsockopt(sock_.fd(), IPPROTO_IP, IP_TTL, &ttl, sizeof ttl); }

  void on_app(const endpoint& from, const bytes& d) {
    if (classify_datagram(d) != datagram_kind::wireguard) return;
    std::string text(d.begin() + 4, d.end());
    if (text == "hello") send(from, "ack");
    if (text == "ack") {
      last_ = steady::now();
      current_ = from;
    }
  }

  // The device receive path and timer.
  void pump(std::chrono::milliseconds wait) {
    auto now = nat_clock::now();
    for (const auto& d : nt_->poll(now)) (void)sock_.send_to(d.to, d.data);
    auto got = sock_.receive(wait);
    if (!got || !*got) return;
    const auto& r = **got;
    if (classify_datagram(r.data) == datagram_kind::wireguard) return on_app(r.from, r.data);
    if (auto pk = nt_->on_datagram(r.from, r.data, nat_clock::now())) on_app(pk->from, pk->data);
  }

  void act(const connect_action& a) {
    switch (a.what) {
      case connect_action::kind::initiate_handshake: send(a.to, "hello"); break;
      case connect_action::kind::punch: send(a.to, "punch", true); break;
      case connect_action::kind::set_endpoint:
      case connect_action::kind::bind_relay: break;  // nat_traversal binds the relay itself
    }
  }

  int run(const std::vector<candidate>& remote) {
    (void)nt_->set_peer("peer", remote);
    auto deadline = steady::now() + std::chrono::seconds(a_.timeout);
    std::optional<steady::time_point> done_at;
    auto next_tick = steady::now();
    while (steady::now() < deadline) {
      if (steady::now() >= next_tick) {
        for (const auto& x : nt_->connect_tick(nat_clock::now(), [&](const std::string&) {
               return handshake_info{last_, current_};
             }))
          act(x);
        next_tick = steady::now() + 100ms;
        auto st = nt_->snapshot();
        if (!done_at && !st.peers.empty() && st.peers[0].type && st.peers[0].log.back().reason != "in progress")
          done_at = steady::now();
      }
      if (done_at && steady::now() - *done_at >= std::chrono::seconds(a_.linger)) break;
      pump(20ms);
    }
    return report();
  }

  int report() {
    auto st = nt_->snapshot();
    if (st.peers.empty() || !st.peers[0].type) {
      std::cout << "connection none" << std::endl;
      return 1;
    }
    const auto& p = st.peers[0];
    for (const auto& l : p.log) {
      std::cout << "attempt outcome=" << to_string(l.outcome) << " pairs=";
      for (size_t i = 0; i < l.pairs_tried.size(); ++i) std::cout << (i ? "," : "") << l.pairs_tried[i];
      std::cout << " reason=" << l.reason << "\n";
    }
    std::cout << "connection " << to_string(*p.type) << " "
              << (p.remote_endpoint ? p.remote_endpoint->to_string() : "-") << std::endl;
    return *p.type == connection_type::unreachable ? 1 : 0;
  }

  udp_socket& socket() { return sock_; }

 private:
  const natprobe_connect_args& a_;
  udp_socket sock_;
  std::unique_ptr<nat_traversal> nt_;
  std::optional<steady::time_point> last_;
  std::optional<endpoint> current_;
};

}  // namespace

int natprobe_connect(const natprobe_connect_args& a) {
  auto local_ep = endpoint::parse(a.bind);
  if (!local_ep) return std::cerr << "bad --bind\n", 2;
  nat_config_input in;
  in.enabled = true;
  in.stun_servers = {a.stun};
  in.hole_punch_timeout_secs = uint64_t(a.hole_punch_timeout);
  nat_traversal_options opts;
  opts.config = resolve_nat_config(in);
  opts.listen_port = local_ep->port();
  if (!a.relay.empty()) {
    auto r = endpoint::parse(a.relay);
    if (!r) return std::cerr << "bad --relay\n", 2;
    opts.relay = *r;
    std::ifstream f(a.credential_file);
    std::getline(f, opts.relay_credential);
  }
  if (!a.turn.empty()) {
    std::ifstream f(a.turn_password_file);
    std::string pw;
    std::getline(f, pw);
    opts.config.turn_servers.push_back({a.turn, a.turn_user, pw});
  }
  auto nt = nat_traversal::create(std::move(opts));
  if (!nt) return std::cerr << nt.err().message << "\n", 2;
  auto sock = udp_socket::bind(*local_ep);
  if (!sock) return std::cerr << sock.err().message << "\n", 1;

  probe p(a, std::move(*sock), std::move(*nt));
  if (!p.gather()) return std::cout << "candidate gathering incomplete" << std::endl, 1;
  p.write_candidates();
  std::optional<std::vector<candidate>> remote;
  for (int i = 0; i < a.timeout * 10 && !remote; ++i) {
    remote = parse_candidates(read_file(a.peer_file));
    if (!remote) p.pump(100ms);
  }
  if (!remote) return std::cout << "no peer candidates in " << a.peer_file << std::endl, 1;
  return p.run(*remote);
}

}  // namespace overlayd::net::nat
