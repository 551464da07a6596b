// guest_managed and host_shared attach through the whole engine (the seed's
// guest_attach_requires_global_overlay, detach_unknown_guest_is_idempotent,
// guest_attach_allocates_config_and_detach_releases), plus the dedicated
// variant. The privileged cases run in a network namespace of their own (a
// thread that unshares CLONE_NEWNET starts the engine, so every thread it
// spawns, and every nft it runs, lives there): the host is never touched.
#include <doctest/doctest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>

#include "ipc/engine_test_util.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
using namespace overlayd::ipc::testing;

namespace {
req::attach_container attach(attach_handle h, std::string service,
                             std::optional<std::string> isolation = std::nullopt) {
  req::attach_container a;
  a.handle = std::move(h);
  a.service = std::move(service);
  a.join_global = true;
  a.isolation_network = std::move(isolation);
  return a;
}

const peer_status* find_peer(const status_snapshot& s, const std::string& key) {
  for (auto& p : s.peers)
    if (p.public_key == key) return &p;
  return nullptr;
}
}  // namespace

TEST_CASE("guest attach requires the global overlay and allocates nothing without it") {
  engine_config cfg;
  cfg.data_dir = temp_dir("noglobal");
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  auto& e = **eng;
  auto r = e.call(attach(guest_managed{"vm-1"}, "web"));
  REQUIRE(std::holds_alternative<resp::err>(r));
  CHECK(std::get<resp::err>(r).message.find("global overlay to be set up") != std::string::npos);
  auto h = e.call(attach(host_shared{"h-1"}, "web"));
  REQUIRE(std::holds_alternative<resp::err>(h));
  CHECK(std::get<resp::err>(h).message.find("global overlay to be set up") != std::string::npos);
  // Nothing was allocated: the slice still hands out its first address.
  auto ip = e.call(req::allocate_ip{"web", false});
  REQUIRE(std::holds_alternative<resp::ip>(ip));
  CHECK(std::get<resp::ip>(ip).ip.to_string() == "10.200.0.2");
  e.stop();
  std::filesystem::remove_all(cfg.data_dir);
}

TEST_CASE("detach of an unknown guest or host-shared id is ok") {
  engine_config cfg;
  cfg.data_dir = temp_dir("unknown");
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  CHECK(std::holds_alternative<resp::ok>((*eng)->call(req::detach_container{guest_managed{"never-attached"}})));
  CHECK(std::holds_alternative<resp::ok>((*eng)->call(req::detach_container{host_shared{"never-attached"}})));
  (*eng)->stop();
  std::filesystem::remove_all(cfg.data_dir);
}

TEST_CASE("guest attach allocates a config and detach releases it; dedicated and host-shared too" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    engine_config cfg;
    cfg.data_dir = temp_dir("priv");
    cfg.uapi_dir = cfg.data_dir + "/uapi";
    std::filesystem::create_directories(cfg.uapi_dir);
    auto eng = engine::start(cfg);
    REQUIRE(eng.ok());
    auto& e = **eng;
    auto g = e.call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/28", 51420});
    REQUIRE(std::holds_alternative<resp::bridge_name>(g));
    const std::string iface = std::get<resp::bridge_name>(g).name;
    auto st = [&] { return std::get<resp::status>(e.call(req::status{})).snapshot; };
    const std::string node_key = *st().public_key;
    // A global peer (never reachable: the namespace has no route to it).
    CHECK(std::holds_alternative<resp::ok>(e.call(req::add_peer{
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "10.99.0.9:51820", "10.200.1.0/28", 0, {}}})));

    auto a = attach(guest_managed{"vm-1"}, "web");
    a.dns_server = *net::ip_address::parse("10.200.0.1");
    a.dns_domain = "overlay";
    auto r = e.call(a);
    REQUIRE(std::holds_alternative<resp::guest_config>(r));
    const auto c = std::get<resp::guest_config>(r).config;
    CHECK(!c.private_key.empty());
    CHECK(!c.public_key.empty());
    CHECK(c.private_key != c.public_key);
    CHECK(c.listen_port == 51420);
    CHECK(c.dns_server == *net::ip_address::parse("10.200.0.1"));
    CHECK(c.dns_domain == "overlay");
    CHECK(c.overlay_ip.to_string() == "10.200.0.2");  // from the node slice (no bridge)
    CHECK(c.prefix_len == 28);
    // Exactly one peer: this node, keepalive 25, AllowedIPs the cluster.
    REQUIRE(c.peers.size() == 1);
    CHECK(c.peers[0].public_key == node_key);
    CHECK(c.peers[0].endpoint == "10.200.0.1:51420");
    CHECK(c.peers[0].allowed_ips == "10.200.0.0/16");
    CHECK(c.peers[0].persistent_keepalive_secs == 25);
    // The guest's key is a peer on our device: no endpoint yet, its /32.
    {
      auto s = st();
      const auto* p = find_peer(s, c.public_key);
      REQUIRE(p);
      CHECK(p->allowed_ips == "10.200.0.2/32");
      CHECK(p->endpoint.empty());  // roaming: learned from its first packet
      CHECK(sh("ip route show 10.200.0.2").find("dev " + iface) != std::string::npos);
    }
    // The agent retrying after a lost reply gets the very same answer (IP
    // and keys); the same id for another service is refused.
    CHECK(e.call(a) == response(resp::guest_config{c}));
    auto other = a;
    other.service = "other";
    auto refused = e.call(other);
    REQUIRE(std::holds_alternative<resp::err>(refused));
    CHECK(std::get<resp::err>(refused).message.find("already attached to service web") != std::string::npos);

    // Detach releases the peer, the route and the IP; a second detach is ok.
    CHECK(std::holds_alternative<resp::ok>(e.call(req::detach_container{guest_managed{"vm-1"}})));
    CHECK(!find_peer(st(), c.public_key));
    CHECK(sh("ip route show 10.200.0.2").empty());
    CHECK(std::holds_alternative<resp::ok>(e.call(req::detach_container{guest_managed{"vm-1"}})));
    auto ip = e.call(req::allocate_ip{"other", false});
    REQUIRE(std::holds_alternative<resp::ip>(ip));
    CHECK(std::get<resp::ip>(ip).ip.to_string() == "10.200.0.2");
    CHECK(std::holds_alternative<resp::ok>(e.call(req::release_ip{std::get<resp::ip>(ip).ip})));

    // Dedicated variant: the one peer is the service's dedicated device.
    auto d = e.call(req::setup_service_overlay{"db", overlay_mode::dedicated});
    REQUIRE(std::holds_alternative<resp::service_overlay>(d));
    const auto di = std::get<resp::service_overlay>(d).info;
    CHECK(di.wg_port == 51421);
    auto rd = e.call(attach(guest_managed{"vm-2"}, "db"));
    REQUIRE(std::holds_alternative<resp::guest_config>(rd));
    const auto cd = std::get<resp::guest_config>(rd).config;
    REQUIRE(cd.peers.size() == 1);
    CHECK(cd.peers[0].public_key == *di.wg_public_key);
    CHECK(cd.peers[0].allowed_ips == *di.subnet);
    CHECK(cd.listen_port == 51421);
    CHECK(net::cidr::parse(*di.subnet)->contains(cd.overlay_ip));
    CHECK(cd.overlay_ip != *di.overlay_ip);
    {
      auto s = st();
      REQUIRE(s.dedicated_services.size() == 1);
      CHECK(s.dedicated_services[0].peer_count == 1);
      CHECK(!find_peer(s, cd.public_key));  // not on the global device
    }
    CHECK(std::holds_alternative<resp::ok>(e.call(req::detach_container{guest_managed{"vm-2"}})));
    CHECK(st().dedicated_services[0].peer_count == 0);

    // host_shared: a distinct /32 from the slice as an alias on the global device.
    auto h1 = e.call(attach(host_shared{"h-1"}, "web", std::string("n1")));
    auto h2 = e.call(attach(host_shared{"h-2"}, "web"));
    REQUIRE(std::holds_alternative<resp::attached>(h1));
    REQUIRE(std::holds_alternative<resp::attached>(h2));
    const auto ip1 = std::get<resp::attached>(h1).result.ip;
    const auto ip2 = std::get<resp::attached>(h2).result.ip;
    CHECK(ip1 != ip2);
    CHECK(net::cidr::parse("10.200.0.0/28")->contains(ip1));
    auto addrs = sh("ip -o addr show dev " + iface);
    CHECK(addrs.find(ip1.to_string() + "/32") != std::string::npos);
    CHECK(addrs.find(ip2.to_string() + "/32") != std::string::npos);
    CHECK(std::holds_alternative<resp::ok>(e.call(req::detach_container{host_shared{"h-1"}})));
    addrs = sh("ip -o addr show dev " + iface);
    CHECK(addrs.find(ip1.to_string() + "/32") == std::string::npos);
    CHECK(addrs.find(ip2.to_string() + "/32") != std::string::npos);

    CHECK(std::holds_alternative<resp::ok>(e.call(req::shutdown{})));
    e.stop();
    CHECK(sh("ip -o link show").find(iface) == std::string::npos);
    std::filesystem::remove_all(cfg.data_dir);
  });
}
