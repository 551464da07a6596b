// overlay-natprobe: small probes for the NAT system tests and for operators.
//
//   overlay-natprobe stun [--bind IP:PORT] SERVER...        reflexive endpoints + mapping
//   overlay-natprobe relay-echo --relay EP --credential-file F --out FILE
//                    --peer-file FILE [--ping N] [--bind IP:PORT]
//   overlay-natprobe relay-alloc --relay EP --credential-file F --count N
//   overlay-natprobe turn --server EP --user U --password-file F --peer EP [--count N]
//   overlay-natprobe udp-echo --bind IP:PORT [--timeout S]
//   overlay-natprobe connect --bind IP:PORT --stun EP [--relay EP --credential-file F]
//                    --out FILE --peer-file FILE     candidates + connect planner on one socket
//
// Each prints one fact per line ("reflexive ...", "echoed 5/5") and exits 0
// on success, 1 on failure, 2 on bad usage. Every wait is bounded (--timeout).
#include <CLI/CLI.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>

#include "net/nat/natprobe_connect.hpp"
#include "net/nat/relay_client.hpp"
#include "net/nat/stun_client.hpp"
#include "net/nat/turn_client.hpp"
#include "net/nat/udp_socket.hpp"

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;

namespace {

using wall = std::chrono::system_clock;

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (f) std::getline(f, s);
  return s;
}

bytes to_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

void send_all(const udp_socket& s, const std::vector<outgoing_datagram>& out) {
  for (const auto& d : out)
    if (auto r = s.send_to(d.to, d.data); !r) std::cerr << "send: " << r.err().message << "\n";
}

// Receives until `handle` returns true or the deadline passes; `tick` runs
// between receives and returns what to send.
bool pump(const udp_socket& s, std::chrono::seconds timeout,
          const std::function<std::vector<outgoing_datagram>()>& tick,
          const std::function<bool(const udp_socket::received&)>& handle) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    send_all(s, tick());
    auto got = s.receive(50ms);
    if (!got) {
      std::cerr << got.err().message << "\n";
      return false;
    }
    if (*got && handle(**got)) return true;
  }
  return false;
}

int cmd_stun(const std::string& bind, const std::vector<std::string>& servers, int timeout) {
  auto local = endpoint::parse(bind);
  if (!local) return std::cerr << local.err().message << "\n", 2;
  std::vector<endpoint> eps;
  for (const auto& s : servers) {
    auto e = endpoint::parse(s);
    if (!e) return std::cerr << "server " << s << ": " << e.err().message << "\n", 2;
    eps.push_back(*e);
  }
  auto sock = udp_socket::bind(*local);
  if (!sock) return std::cerr << sock.err().message << "\n", 1;
  stun_client c;
  c.start(eps, steady::now());
  pump(*sock, std::chrono::seconds(timeout), [&] { return c.poll(steady::now()); },
       [&](const udp_socket::received& r) {
         c.on_datagram(r.from, r.data);
         return c.done();
       });
  // Let unanswered transactions time out in the client's own terms.
  bool any = false;
  for (const auto& r : c.results()) {
    if (r.reflexive) {
      any = true;
      std::cout << "reflexive " << r.server.to_string() << " " << r.reflexive->to_string() << "\n";
    } else {
      std::cout << "failed " << r.server.to_string() << " " << (r.error.empty() ? "timeout" : r.error) << "\n";
    }
  }
  std::cout << "mapping " << to_string(classify_mapping(c.results())) << "\n";
  std::cout << "local " << sock->local_endpoint()->to_string() << std::endl;
  return any ? 0 : 1;
}

struct relay_args {
  std::string relay, credential_file, bind = "0.0.0.0:0", out, peer_file;
  int ping = 0, timeout = 20, count = 1, rto_ms = 500;
};

int cmd_relay_echo(const relay_args& a) {
  auto server = endpoint::parse(a.relay);
  auto local = endpoint::parse(a.bind);
  if (!server || !local) return std::cerr << "bad --relay or --bind\n", 2;
  auto sock = udp_socket::bind(*local);
  if (!sock) return std::cerr << sock.err().message << "\n", 1;
  relay_client c({*server, read_first_line(a.credential_file), 600s, std::chrono::milliseconds(a.rto_ms)});
  c.start(wall::now());
  auto tick = [&] { return c.poll(wall::now()); };
  bool ok = pump(*sock, std::chrono::seconds(a.timeout), tick, [&](const udp_socket::received& r) {
    c.on_datagram(r.from, r.data, wall::now());
    return c.state() != relay_client_state::allocating;
  });
  if (!ok || c.state() != relay_client_state::allocated) {
    std::cout << "allocation failed: " << (c.last_error().empty() ? "timeout" : c.last_error()) << std::endl;
    return 1;
  }
  std::cout << "relayed " << c.relayed_endpoint()->to_string() << "\n"
            << "reflexive " << c.reflexive_endpoint()->to_string() << std::endl;
  if (!a.out.empty()) std::ofstream(a.out) << c.relayed_endpoint()->to_string() << "\n";

  // Wait (bounded) for the peer's relayed endpoint, then pair with it.
  std::optional<endpoint> peer;
  auto keep_alive = [&](const udp_socket::received& r) {
    c.on_datagram(r.from, r.data, wall::now());
    return false;
  };
  for (int i = 0; i < a.timeout && !peer; ++i) {
    if (auto e = endpoint::parse(read_first_line(a.peer_file))) peer = *e;
    else pump(*sock, 1s, tick, keep_alive);  // keeps the allocation answered while waiting
  }
  if (!peer) return std::cout << "no peer endpoint in " << a.peer_file << std::endl, 1;
  if (auto r = c.bind_peer(*peer, wall::now()); !r) return std::cout << r.err().message << std::endl, 1;

  int echoed = 0, served = 0, next = 0;
  auto last_ping = steady::time_point{};
  auto ping_tick = [&] {
    auto out = tick();
    if (a.ping > 0 && c.paired(*peer) && next < a.ping && steady::now() - last_ping >= 200ms) {
      // Resend the oldest unanswered ping until it is echoed.
      if (auto f = c.wrap(*peer, to_bytes("ping " + std::to_string(echoed)))) out.push_back(*f);
      last_ping = steady::now();
    }
    return out;
  };
  pump(*sock, std::chrono::seconds(a.timeout), ping_tick, [&](const udp_socket::received& r) {
    auto got = c.on_datagram(r.from, r.data, wall::now());
    if (!got) return false;
    std::string text(got->payload.begin(), got->payload.end());
    if (a.ping > 0) {
      if (text == "echo ping " + std::to_string(echoed)) next = ++echoed;
      if (echoed == a.ping) {
        if (auto f = c.wrap(*peer, to_bytes("quit"))) send_all(*sock, {*f});
        return true;
      }
      return false;
    }
    if (text == "quit") return true;
    if (auto f = c.wrap(got->from, to_bytes("echo " + text))) send_all(*sock, {*f}), ++served;
    return false;
  });
  if (auto rel = c.release(wall::now())) send_all(*sock, {*rel});
  if (a.ping > 0) {
    std::cout << "echoed " << echoed << "/" << a.ping << std::endl;
    return echoed == a.ping ? 0 : 1;
  }
  std::cout << "served " << served << std::endl;
  return served > 0 ? 0 : 1;
}

int cmd_relay_alloc(const relay_args& a) {
  auto server = endpoint::parse(a.relay);
  auto local = endpoint::parse(a.bind);
  if (!server || !local) return std::cerr << "bad --relay or --bind\n", 2;
  std::string cred = read_first_line(a.credential_file);
  struct one {
    udp_socket sock;
    std::unique_ptr<relay_client> client;
  };
  std::vector<one> all;
  for (int i = 0; i < a.count; ++i) {
    auto s = udp_socket::bind(*local);
    if (!s) return std::cerr << s.err().message << "\n", 1;
    all.push_back({std::move(*s), std::make_unique<relay_client>(relay_client_options{
                                      *server, cred, 600s, std::chrono::milliseconds(a.rto_ms)})});
    all.back().client->start(wall::now());
  }
  auto deadline = steady::now() + std::chrono::seconds(a.timeout);
  auto pending = [&] {
    for (auto& o : all)
      if (o.client->state() == relay_client_state::allocating) return true;
    return false;
  };
  while (pending() && steady::now() < deadline) {
    for (auto& o : all) {
      send_all(o.sock, o.client->poll(wall::now()));
      if (auto got = o.sock.receive(5ms); got && *got) o.client->on_datagram((*got)->from, (*got)->data, wall::now());
    }
  }
  int ok = 0, failed = 0;
  for (auto& o : all) {
    if (o.client->state() == relay_client_state::allocated) ++ok;
    else {
      ++failed;
      std::cout << "error " << (o.client->last_error().empty() ? "timeout" : o.client->last_error()) << "\n";
    }
  }
  std::cout << "allocated " << ok << " failed " << failed << std::endl;
  return 0;
}

int cmd_turn(const std::string& server_s, const std::string& user, const std::string& pass_file,
             const std::string& peer_s, const std::string& bind, int count, int timeout) {
  auto server = endpoint::parse(server_s);
  auto peer = endpoint::parse(peer_s);
  auto local = endpoint::parse(bind);
  if (!server || !peer || !local) return std::cerr << "bad --server, --peer or --bind\n", 2;
  auto sock = udp_socket::bind(*local);
  if (!sock) return std::cerr << sock.err().message << "\n", 1;
  turn_client c({*server, user, read_first_line(pass_file), 600s});
  c.start(steady::now());
  (void)c.add_peer(*peer, steady::now());
  int echoed = 0;
  auto last = steady::time_point{};
  auto tick = [&] {
    auto out = c.poll(steady::now());
    if (c.channel_bound(*peer) && steady::now() - last >= 200ms) {
      if (auto f = c.wrap(*peer, to_bytes("turn " + std::to_string(echoed)))) out.push_back(*f);
      last = steady::now();
    }
    return out;
  };
  pump(*sock, std::chrono::seconds(timeout), tick, [&](const udp_socket::received& r) {
    auto got = c.on_datagram(r.from, r.data, steady::now());
    if (got && std::string(got->payload.begin(), got->payload.end()) == "turn " + std::to_string(echoed)) ++echoed;
    return echoed >= count || c.state() == turn_state::failed;
  });
  if (c.relayed_endpoint()) std::cout << "relayed " << c.relayed_endpoint()->to_string() << "\n";
  if (c.reflexive_endpoint()) std::cout << "reflexive " << c.reflexive_endpoint()->to_string() << "\n";
  if (!c.last_error().empty()) std::cout << "error " << c.last_error() << "\n";
  std::cout << "channel " << (c.channel_bound(*peer) ? "bound" : "unbound") << "\n";
  std::cout << "echoed " << echoed << "/" << count << std::endl;
  if (auto rel = c.release(steady::now())) send_all(*sock, {*rel});
  return echoed >= count ? 0 : 1;
}

int cmd_udp_echo(const std::string& bind, int timeout) {
  auto local = endpoint::parse(bind);
  if (!local) return std::cerr << local.err().message << "\n", 2;
  auto sock = udp_socket::bind(*local);
  if (!sock) return std::cerr << sock.err().message << "\n", 1;
  std::cout << "echoing on " << sock->local_endpoint()->to_string() << std::endl;
  int n = 0;
  pump(*sock, std::chrono::seconds(timeout), [] { return std::vector<outgoing_datagram>{}; },
       [&](const udp_socket::received& r) {
         if (r.data == to_bytes("quit")) return true;
         (void)sock->send_to(r.from, r.data);
         ++n;
         return false;
       });
  std::cout << "echoed " << n << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"overlay-natprobe: NAT traversal probes"};
  app.require_subcommand(1);

  std::string bind = "0.0.0.0:0";
  std::vector<std::string> servers;
  int timeout = 10;
  auto* stun = app.add_subcommand("stun", "STUN Binding to each server; prints reflexive endpoints");
  stun->add_option("--bind", bind, "local ip:port");
  stun->add_option("--timeout", timeout, "seconds");
  stun->add_option("servers", servers, "STUN servers (ip:port)")->required();

  relay_args ra;
  auto* echo = app.add_subcommand("relay-echo", "allocate on our relay, pair with a peer, ping or echo");
  auto* alloc = app.add_subcommand("relay-alloc", "open N relay allocations; print how many succeed");
  for (auto* sc : {echo, alloc}) {
    sc->add_option("--relay", ra.relay, "relay ip:port")->required();
    sc->add_option("--credential-file", ra.credential_file, "file with the relay credential")->required();
    sc->add_option("--bind", ra.bind, "local ip:port");
    sc->add_option("--timeout", ra.timeout, "seconds");
    sc->add_option("--rto-ms", ra.rto_ms, "first retransmission timeout");
  }
  echo->add_option("--out", ra.out, "write our relayed endpoint here");
  echo->add_option("--peer-file", ra.peer_file, "read the peer's relayed endpoint here")->required();
  echo->add_option("--ping", ra.ping, "send N pings and expect echoes (0 = echo mode)");
  alloc->add_option("--count", ra.count, "allocations to open");

  std::string server, user, pass_file, peer;
  int count = 5;
  auto* turn = app.add_subcommand("turn", "TURN allocate + ChannelBind; ping a UDP echo peer");
  turn->add_option("--server", server, "TURN server ip:port")->required();
  turn->add_option("--user", user, "username")->required();
  turn->add_option("--password-file", pass_file, "file with the password")->required();
  turn->add_option("--peer", peer, "peer ip:port (an echo server)")->required();
  turn->add_option("--bind", bind, "local ip:port");
  turn->add_option("--count", count, "pings");
  turn->add_option("--timeout", timeout, "seconds");

  auto* uecho = app.add_subcommand("udp-echo", "echo UDP datagrams until 'quit' or timeout");
  uecho->add_option("--bind", bind, "local ip:port")->required();
  uecho->add_option("--timeout", timeout, "seconds");

  natprobe_connect_args ca;
  auto* conn = app.add_subcommand("connect", "gather candidates on one socket and run the connect planner");
  conn->add_option("--bind", ca.bind, "local ip:port (the 'WireGuard' socket)")->required();
  conn->add_option("--stun", ca.stun, "STUN server ip:port")->required();
  conn->add_option("--relay", ca.relay, "our relay ip:port");
  conn->add_option("--credential-file", ca.credential_file, "relay credential file");
  conn->add_option("--turn", ca.turn, "TURN server ip:port (relay candidate from TURN)");
  conn->add_option("--turn-user", ca.turn_user, "TURN username");
  conn->add_option("--turn-password-file", ca.turn_password_file, "file with the TURN password");
  conn->add_option("--out", ca.out, "write our candidates here")->required();
  conn->add_option("--peer-file", ca.peer_file, "read the peer's candidates here")->required();
  conn->add_option("--timeout", ca.timeout, "seconds");
  conn->add_option("--hole-punch-timeout", ca.hole_punch_timeout, "seconds");
  conn->add_option("--punch-ttl", ca.punch_ttl, "IP TTL of punch packets");
  conn->add_option("--linger", ca.linger, "seconds to keep answering after the outcome");

  CLI11_PARSE(app, argc, argv);
  if (conn->parsed()) return natprobe_connect(ca);
  if (stun->parsed()) return cmd_stun(bind, servers, timeout);
  if (echo->parsed()) return cmd_relay_echo(ra);
  if (alloc->parsed()) return cmd_relay_alloc(ra);
  if (turn->parsed()) return cmd_turn(server, user, pass_file, peer, bind, count, timeout);
  if (uecho->parsed()) return cmd_udp_echo(bind, timeout);
  return 2;
}
