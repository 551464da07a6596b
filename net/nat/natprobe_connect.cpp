#include "net/nat/natprobe_connect.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <iostream>
#include <sstream>

#include "net/nat/connect_planner.hpp"
#include "net/nat/demux.hpp"
#include "net/nat/relay_client.hpp"
#include "net/nat/stun_client.hpp"
#include "net/nat/udp_socket.hpp"

namespace overlayd::net::nat {
namespace {

using namespace std::chrono_literals;
using wall = std::chrono::system_clock;

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

class probe {
 public:
  probe(const natprobe_connect_args& a, udp_socket sock, std::unique_ptr<relay_client> relay)
      : a_(a), sock_(std::move(sock)), relay_(std::move(relay)),
        planner_({10, std::chrono::seconds(a.hole_punch_timeout), 500ms, 1500ms, 2000ms, 120s, 75s, 180s}) {}

  void send(const endpoint& to, std::string_view text, bool low_ttl = false) {
    byte_span payload(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    if (relay_ && relay_->is_relayed_peer(to)) {
      if (auto f = relay_->wrap(to, payload)) (void)sock_.send_to(f->to, f->data);
      return;
    }
    if (low_ttl) set_ttl(a_.punch_ttl);
    (void)sock_.send_to(to, payload);
    if (low_ttl) set_ttl(64);
  }

  void set_ttl(int ttl) { (void)setsockopt(sock_.fd(), IPPROTO_IP, IP_TTL, &ttl, sizeof ttl); }

  // Our stand-in for WireGuard: "hello" is answered with "ack"; an "ack"
  // completes the handshake, from the address it came from.
  void on_app(const endpoint& from, const bytes& d) {
    std::string text(d.begin(), d.end());
    if (text == "hello") send(from, "ack");
    if (text == "ack") {
      last_ = steady::now();
      current_ = from;
    }
  }

  void receive(std::chrono::milliseconds wait) {
    auto got = sock_.receive(wait);
    if (!got || !*got) return;
    const auto& r = **got;
    if (classify_datagram(r.data) == datagram_kind::relay && relay_) {
      if (auto d = relay_->on_datagram(r.from, r.data, wall::now())) on_app(d->from, d->payload);
      return;
    }
    on_app(r.from, r.data);
  }

  void act(const connect_action& a) {
    switch (a.what) {
      case connect_action::kind::set_endpoint: target_ = a.to; break;
      case connect_action::kind::initiate_handshake: send(a.to, "hello"); break;
      case connect_action::kind::punch: send(a.to, "punch", true); break;
      case connect_action::kind::bind_relay:
        if (relay_) (void)relay_->bind_peer(a.to, wall::now());
        break;
    }
  }

  int run(const std::vector<candidate>& local, const std::vector<candidate>& remote) {
    planner_.set_local_candidates(local);
    (void)planner_.set_peer("peer", remote);
    auto deadline = steady::now() + std::chrono::seconds(a_.timeout);
    std::optional<steady::time_point> done_at;
    auto next_tick = steady::now();
    while (steady::now() < deadline) {
      if (relay_)
        for (const auto& d : relay_->poll(wall::now())) (void)sock_.send_to(d.to, d.data);
      if (steady::now() >= next_tick) {
        auto acts = planner_.tick(
            steady::now(), [&](const std::string&) { return handshake_info{last_, current_}; },
            [&](const endpoint& e) {
              return relay_ && relay_->relayed_endpoint() && relay_->relayed_endpoint()->ip() == e.ip();
            });
        for (const auto& x : acts) act(x);
        next_tick = steady::now() + 100ms;
        auto st = planner_.snapshot();
        if (!done_at && !st.empty() && st[0].type && !st[0].log.empty() && st[0].log.back().reason != "in progress")
          done_at = steady::now();
      }
      if (done_at && steady::now() - *done_at >= std::chrono::seconds(a_.linger)) break;
      receive(20ms);
    }
    auto st = planner_.snapshot();
    if (st.empty() || !st[0].type) {
      std::cout << "connection none" << std::endl;
      return 1;
    }
    for (const auto& l : st[0].log) {
      std::cout << "attempt outcome=" << to_string(l.outcome) << " pairs=";
      for (size_t i = 0; i < l.pairs_tried.size(); ++i) std::cout << (i ? "," : "") << l.pairs_tried[i];
      std::cout << " reason=" << l.reason << "\n";
    }
    std::cout << "connection " << to_string(*st[0].type) << " "
              << (st[0].remote_endpoint ? st[0].remote_endpoint->to_string() : "-") << std::endl;
    return *st[0].type == connection_type::unreachable ? 1 : 0;
  }

 private:
  const natprobe_connect_args& a_;
  udp_socket sock_;
  std::unique_ptr<relay_client> relay_;
  connect_planner planner_;
  std::optional<steady::time_point> last_;
  std::optional<endpoint> current_, target_;
};

}  // namespace

int natprobe_connect(const natprobe_connect_args& a) {
  auto local_ep = endpoint::parse(a.bind);
  auto stun_ep = endpoint::parse(a.stun);
  if (!local_ep || !stun_ep) return std::cerr << "bad --bind or --stun\n", 2;
  auto sock = udp_socket::bind(*local_ep);
  if (!sock) return std::cerr << sock.err().message << "\n", 1;

  // Candidates: host, then server-reflexive from STUN on this very socket,
  // then relay from our relay on this very socket.
  std::vector<candidate> local;
  if (auto ifs = list_interface_addresses()) local = host_candidates(*ifs, local_ep->port());
  stun_client stun;
  stun.start({*stun_ep}, steady::now());
  std::unique_ptr<relay_client> relay;
  if (!a.relay.empty()) {
    auto r = endpoint::parse(a.relay);
    if (!r) return std::cerr << "bad --relay\n", 2;
    std::ifstream f(a.credential_file);
    std::string cred;
    std::getline(f, cred);
    relay = std::make_unique<relay_client>(relay_client_options{*r, cred, 600s});
    relay->start(wall::now());
  }
  auto deadline = steady::now() + 10s;
  auto relay_busy = [&] { return relay && relay->state() == relay_client_state::allocating; };
  while ((!stun.done() || relay_busy()) && steady::now() < deadline) {
    for (const auto& d : stun.poll(steady::now())) (void)sock->send_to(d.to, d.data);
    if (relay)
      for (const auto& d : relay->poll(wall::now())) (void)sock->send_to(d.to, d.data);
    auto got = sock->receive(20ms);
    if (!got || !*got) continue;
    if (classify_datagram((*got)->data) == datagram_kind::stun) stun.on_datagram((*got)->from, (*got)->data);
    else if (relay) relay->on_datagram((*got)->from, (*got)->data, wall::now());
  }
  for (const auto& r : stun.results())
    if (r.reflexive) local.push_back(make_candidate(candidate_type::server_reflexive, *r.reflexive));
  if (relay && relay->relayed_endpoint())
    local.push_back(make_candidate(candidate_type::relay, *relay->relayed_endpoint()));

  {
    std::ofstream out(a.out + ".tmp");
    for (const auto& c : local) {
      auto w = candidate_to_wire(c);
      out << w.candidate_type << " " << w.address << " " << w.priority << "\n";
      std::cout << "candidate " << w.candidate_type << " " << w.address << "\n";
    }
    out << "end\n";
  }
  std::rename((a.out + ".tmp").c_str(), a.out.c_str());
  std::cout.flush();

  std::optional<std::vector<candidate>> remote;
  for (int i = 0; i < a.timeout * 10 && !remote; ++i) {
    remote = parse_candidates(read_file(a.peer_file));
    if (!remote) (void)sock->receive(100ms);
  }
  if (!remote) return std::cout << "no peer candidates in " << a.peer_file << std::endl, 1;
  probe p(a, std::move(*sock), std::move(relay));
  return p.run(local, *remote);
}

}  // namespace overlayd::net::nat
