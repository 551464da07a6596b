#include "net/nat/nat_traversal.hpp"

#include <doctest/doctest.h>

#include "net/nat/relay_server.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;

namespace {

endpoint ep(const char* s) { return endpoint::parse(s).value(); }
const endpoint stun_ep = ep("198.51.100.1:3478");
const endpoint relay_ep = ep("198.51.100.1:3490");

// A tiny world: two nodes, a STUN server and our relay, with a NAT that
// maps node X's socket to a public address. No direct path between nodes.
struct world {
  relay_server relay{{ip_address::parse("198.51.100.1").value(), 3490, 10, "cred"}};
  std::map<endpoint, endpoint> nat;  // private -> public
  std::map<endpoint, nat_traversal*> nodes;  // private socket -> node
  std::vector<std::pair<endpoint, nat_traversal::packet>> to_wireguard;

  endpoint pub(const endpoint& priv) { return nat.count(priv) ? nat[priv] : priv; }
  std::optional<endpoint> priv(const endpoint& p) {
    for (auto& [k, v] : nat)
      if (v == p) return k;
    return std::nullopt;
  }

  void deliver(const endpoint& src_priv, const outgoing_datagram& d, const nat_clock& now) {
    endpoint src = pub(src_priv);
    if (d.to == stun_ep) {
      auto m = parse_stun(d.data).value();
      auto resp = stun_builder(stun_method::binding, stun_class::success, m.txn)
                      .add_xor_address(stun_attr::xor_mapped_address, src)
                      .finish(std::nullopt, true);
      receive(src_priv, stun_ep, resp, now);
    } else if (d.to == relay_ep) {
      for (auto& out : relay.on_datagram(src, d.data, now.wall))
        if (auto p = priv(out.to)) receive(*p, relay_ep, out.data, now);
    }
  }
  void receive(const endpoint& node_priv, const endpoint& from, const bytes& data, const nat_clock& now) {
    if (auto pk = nodes[node_priv]->on_datagram(from, data, now)) to_wireguard.push_back({node_priv, *pk});
  }
  void run(const nat_clock& now) {
    for (int round = 0; round < 5; ++round)
      for (auto& [addr, node] : nodes)
        for (auto& d : node->poll(now)) deliver(addr, d, now);
  }
};

nat_traversal_options options() {
  nat_config_input in;
  in.enabled = true;
  in.stun_servers = {"198.51.100.1:3478"};
  in.hole_punch_timeout_secs = 4;
  nat_traversal_options o;
  o.config = resolve_nat_config(in);
  o.listen_port = 51820;
  o.relay = relay_ep;
  o.relay_credential = "cred";
  return o;
}

}  // namespace

TEST_CASE("nat_traversal with no STUN server configured sends nothing") {
  nat_traversal_options o;
  o.config = resolve_nat_config({});
  o.listen_port = 51820;
  auto nt = nat_traversal::create(o);
  REQUIRE(nt.ok());
  auto now = nat_clock::now();
  (*nt)->refresh({{"eth0", ip_address::parse("192.168.1.5").value(), true, false}}, now);
  CHECK((*nt)->poll(now).empty());
  auto c = (*nt)->local_candidates();
  REQUIRE(c.size() == 1);
  CHECK(candidate_to_wire(c[0]) == candidate_wire{"host", "192.168.1.5:51820", 100});
}

TEST_CASE("nat_traversal rejects unparsable server addresses") {
  auto o = options();
  o.config.stun_servers = {"stun.example.org:3478"};
  CHECK_FALSE(nat_traversal::create(o).ok());
}

TEST_CASE("two nodes gather candidates, fail direct, and exchange packets through the relay") {
  world w;
  auto a = std::move(nat_traversal::create(options()).value());
  auto b = std::move(nat_traversal::create(options()).value());
  endpoint a_priv = ep("10.0.1.2:51820"), b_priv = ep("10.0.2.2:51820");
  w.nat[a_priv] = ep("203.0.113.1:40001");
  w.nat[b_priv] = ep("203.0.113.2:40002");
  w.nodes[a_priv] = a.get();
  w.nodes[b_priv] = b.get();
  auto now = nat_clock::now();
  a->refresh({{"eth0", ip_address::parse("10.0.1.2").value(), true, false}}, now);
  b->refresh({{"eth0", ip_address::parse("10.0.2.2").value(), true, false}}, now);
  w.run(now);

  auto ca = a->local_candidates();
  REQUIRE(ca.size() == 3);
  CHECK(ca[0].type == candidate_type::host);
  CHECK(ca[1].address == ep("203.0.113.1:40001"));
  CHECK(ca[2].type == candidate_type::relay);
  auto cb = b->local_candidates();
  REQUIRE(a->set_peer("b", cb).ok());
  REQUIRE(b->set_peer("a", ca).ok());

  // Nothing ever completes a handshake directly; once both are on the relay
  // the planner reports "relayed" and packets flow both ways.
  handshake_oracle never = [](const std::string&) { return handshake_info{}; };
  for (int s = 0; s < 100; ++s) {
    now.mono += 100ms;
    now.wall += 100ms;
    a->connect_tick(now, never);
    b->connect_tick(now, never);
    w.run(now);
  }
  auto relay_b = cb[2].address;
  auto frame = a->wrap(relay_b, bytes{0x04, 0, 0, 0, 42});
  REQUIRE(frame);
  CHECK(frame->to == relay_ep);
  w.deliver(a_priv, *frame, now);
  REQUIRE(w.to_wireguard.size() == 1);
  CHECK(w.to_wireguard[0].first == b_priv);
  CHECK(w.to_wireguard[0].second.from == ca[2].address);  // B's WireGuard sees A's relay candidate
  CHECK(w.to_wireguard[0].second.data == bytes{0x04, 0, 0, 0, 42});
  // Packets to non-relayed endpoints are left to the device.
  CHECK_FALSE(a->wrap(ep("203.0.113.2:40002"), bytes{1}));

  // The device's data path (relay_routes, the relay hook) frames the same
  // way from the routes nat_traversal publishes, and the relay forwards
  // those frames to B, whose routes unwrap them as coming from A's relay
  // candidate.
  relay_routes ra, rb;
  ra.set(a->relay_routes());
  rb.set(b->relay_routes());
  REQUIRE(ra.routes().size() == 1);
  CHECK(ra.routes()[0].peer == relay_b);
  CHECK(ra.relays(relay_b));
  std::vector<uint8_t> hooked;
  endpoint server;
  const bytes wg_packet{0x04, 0, 0, 0, 42};
  REQUIRE(ra.wrap(relay_b, wg_packet, hooked, server));
  CHECK(server == relay_ep);
  CHECK(hooked == frame->data);
  auto forwarded = w.relay.on_datagram(w.pub(a_priv), hooked, now.wall);
  REQUIRE(forwarded.size() == 1);
  CHECK(forwarded[0].to == w.pub(b_priv));
  auto u = rb.unwrap(forwarded[0].data, relay_ep);
  REQUIRE(u);
  CHECK(u->from == ca[2].address);
  CHECK(bytes(forwarded[0].data.begin() + long(u->offset), forwarded[0].data.begin() + long(u->offset + u->len)) ==
        wg_packet);
  // A frame for B that did not come from the relay is not claimed.
  CHECK_FALSE(rb.unwrap(forwarded[0].data, ep("198.51.100.1:3491")));

  auto st = a->snapshot();
  CHECK(st.problems.empty());
  CHECK(st.last_refresh);
  REQUIRE(st.peers.size() == 1);
  CHECK(st.peers[0].log.back().pairs_tried.back() == "relay " + relay_b.to_string());
}
