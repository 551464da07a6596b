// Behaviour at the edges, found while porting the seed's tests (each was a
// failing test first): a pid in the daemon's own namespace, a failed setup in
// service_count, a mode change before teardown, a peer with our own key.
#include <doctest/doctest.h>

#include <fstream>

#include "ipc/engine_test_util.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
using namespace overlayd::ipc::testing;

// A linux_pid attach of a process that lives in the daemon's own network
// namespace (a mistaken pid, a host-network container, the seed's own test
// attaching "this very process") moves vc-<pid>-s into the host namespace,
// renames it eth0 when no eth0 exists and REPLACES the host's default route
// with one via the service bridge (netlink::add_default_route uses
// RTM_NEWROUTE|NLM_F_REPLACE); the detach then deletes that route with the
// veth, leaving the host with no default route at all.
TEST_CASE("a pid in the daemon's own network namespace is refused and the host default route kept" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    // The "host": an uplink with a default route.
    (void)sh("ip link add up0 type veth peer name up1 && ip link set up1 up && ip addr add 10.50.0.1/24 dev up0 && ip link set up0 up && "
             "ip route add default via 10.50.0.254 dev up0");
    const std::string route_before = sh("ip route show default");
    REQUIRE(contains(route_before, "via 10.50.0.254"));
    scoped_engine e("bug-ownns");
    auto g = e.call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/26", 51420});
    REQUIRE(std::holds_alternative<resp::bridge_name>(g));
    REQUIRE(std::holds_alternative<resp::service_overlay>(
        e.call(req::setup_service_overlay{"web", overlay_mode::auto_})));
    // A child that stays in the engine's namespace.
    pid_t child = ::fork();
    if (child == 0) {
      ::close_range(3, ~0U, 0);
      for (;;) ::pause();
    }
    REQUIRE(child > 0);
    req::attach_container a;
    a.handle = linux_pid{static_cast<uint32_t>(child)};
    a.service = "web";
    auto r = e.call(a);
    CHECK(contains(err_of(r), "own network namespace"));
    CHECK(sh("ip route show default") == route_before);
    (void)e.call(req::detach_container{linux_pid{static_cast<uint32_t>(child)}});
    CHECK(sh("ip route show default") == route_before);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  });
}

// service_count counts every service whose mode was recorded
// (service_modes_.size()), so a setup that failed after recording the mode
// (here: a shared setup on an exhausted subnet registry) is counted. The seed
// counts service_interfaces (set only on success) plus dedicated transports
// not among them.
TEST_CASE("a service whose setup failed is not counted in status" * doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    scoped_engine e("bug-count");
    // A /25 cluster holds two /26 slices: the node IP's (never assigned) and pad's.
    auto g = e.call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/25", "10.200.0.0/28", 51420});
    REQUIRE(std::holds_alternative<resp::bridge_name>(g));
    REQUIRE(std::holds_alternative<resp::service_overlay>(
        e.call(req::setup_service_overlay{"pad", overlay_mode::auto_})));
    CHECK(e.status().service_count == 1);
    REQUIRE(std::holds_alternative<resp::err>(e.call(req::setup_service_overlay{"web", overlay_mode::shared})));
    CHECK(e.status().service_count == 1);
  });
}

// teardown_service_overlay returns early for a service whose recorded mode is
// shared ("the shared bridge lives until global teardown"), so a service set
// up in auto or dedicated mode and then again in shared mode leaks its
// per-service bridge, its registry subnet, its dedicated device (still in
// status) and its marker entry. The seed's teardown does not branch on the
// mode: it always deletes the per-service bridge by name, releases the
// (service, node) registry slot and shuts the dedicated transport.
TEST_CASE("tearing down a service whose mode changed to shared removes what its earlier modes made" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    scoped_engine e("bug-modechange");
    auto g = e.call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/26", 51420});
    REQUIRE(std::holds_alternative<resp::bridge_name>(g));
    auto a = e.call(req::setup_service_overlay{"web", overlay_mode::auto_});
    REQUIRE(std::holds_alternative<resp::service_overlay>(a));
    const std::string bridge = std::get<resp::service_overlay>(a).info.name;
    REQUIRE(std::holds_alternative<resp::service_overlay>(
        e.call(req::setup_service_overlay{"web", overlay_mode::dedicated})));
    REQUIRE(e.status().dedicated_services.size() == 1);
    const std::string dev = e.status().dedicated_services[0].interface;
    REQUIRE(std::holds_alternative<resp::service_overlay>(
        e.call(req::setup_service_overlay{"web", overlay_mode::shared})));
    REQUIRE(std::holds_alternative<resp::ok>(e.call(req::teardown_service_overlay{"web"})));
    CHECK(sh("ip -o link show dev " + bridge + " 2>/dev/null").empty());
    CHECK(sh("ip -o link show dev " + dev + " 2>/dev/null").empty());
    CHECK(e.status().dedicated_services.empty());
    // The registry slot is free again: web set up anew gets the subnet it had.
    auto n = e.call(req::setup_service_overlay{"web", overlay_mode::auto_});
    REQUIRE(std::holds_alternative<resp::service_overlay>(n));
    CHECK(contains(sh("ip -o addr show dev " + std::get<resp::service_overlay>(n).info.name), "10.200.187.129/26"));
  });
}

// A peer with the device's own public key is installed as a peer of itself
// (it shows in status, its allowed IPs route into the device). The kernel's
// WireGuard (set_peer: "We silently ignore peers that have the same public
// key as the device") and wireguard-go ignore it, so the agent can send one
// peer list to every node, its own entry included.
TEST_CASE("a peer with the node's own key is ignored, as WireGuard does" * doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    scoped_engine e("bug-self");
    auto g = e.call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/26", 51420});
    REQUIRE(std::holds_alternative<resp::bridge_name>(g));
    const std::string self = *e.status().public_key;
    CHECK(std::holds_alternative<resp::ok>(e.call(req::add_peer{{self, "10.99.0.1:51420", "10.200.5.0/24", 0, {}}})));
    auto s = e.status();
    CHECK(s.peer_count == 0);
    CHECK(s.peers.empty());
    CHECK(sh("ip route show 10.200.5.0/24").empty());
  });
}

// The agent re-sends a peer it already sent (with new NAT candidates, say):
// the same endpoint again must not undo where the device has since found the
// peer (roaming, a punched or relayed path); a different endpoint does apply.
TEST_CASE("add_peer with an unchanged endpoint keeps the device's current endpoint; a new one replaces it" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    scoped_engine e("edge-endpoint");
    auto g = e.call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/26", 51420});
    REQUIRE(std::holds_alternative<resp::bridge_name>(g));
    const std::string iface = std::get<resp::bridge_name>(g).name;
    const std::string key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    auto add = [&](const char* endpoint) {
      return e.call(req::add_peer{{key, endpoint, "10.200.5.0/24", 25, {}}});
    };
    auto endpoint_now = [&] {
      for (auto& p : e.status().peers)
        if (p.public_key == key) return p.endpoint;
      return std::string("<no peer>");
    };
    REQUIRE(std::holds_alternative<resp::ok>(add("10.99.0.1:51820")));
    CHECK(endpoint_now() == "10.99.0.1:51820");
    // The device moves the peer (as roaming or NAT traversal would), through
    // its UAPI socket.
    const std::string sock = e.cfg.uapi_dir + "/" + iface + ".sock";
    const std::string py =
        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
        "s.sendall(b'set=1\\npublic_key=' + b'00'*32 + b'\\nendpoint=10.99.0.2:4000\\n\\n'); print(s.recv(100).decode())";
    REQUIRE(contains(sh("python3 -c \"" + py + "\" " + sock), "errno=0"));
    CHECK(endpoint_now() == "10.99.0.2:4000");
    REQUIRE(std::holds_alternative<resp::ok>(add("10.99.0.1:51820")));
    CHECK(endpoint_now() == "10.99.0.2:4000");
    REQUIRE(std::holds_alternative<resp::ok>(add("10.99.0.3:51820")));
    CHECK(endpoint_now() == "10.99.0.3:51820");
  });
}

namespace {
// How many of this process's threads may run on fewer CPUs than the process.
int narrowed_threads() {
  auto cpus = [](const std::string& path) {  // read here: /proc/self is this process
    std::ifstream f(path);
    for (std::string line; std::getline(f, line);)
      if (line.rfind("Cpus_allowed_list:", 0) == 0) return line;
    return std::string();
  };
  const std::string all = cpus("/proc/self/status");
  int n = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task"))
    if (cpus(t.path().string() + "/status") != all) ++n;
  return n;
}
}  // namespace

TEST_CASE("--wg-pin-threads: the global device's packet threads are pinned, or left to the scheduler" *
          doctest::skip(::geteuid() != 0 || std::thread::hardware_concurrency() < 2)) {
  in_private_netns([] {
    REQUIRE(narrowed_threads() == 0);
    for (bool pin : {true, false}) {
      engine_config cfg;
      cfg.data_dir = temp_dir(pin ? "edge-pin" : "edge-nopin");
      cfg.uapi_dir = cfg.data_dir + "/uapi";
      cfg.wg_pin_threads = pin;
      std::filesystem::create_directories(cfg.uapi_dir);
      auto eng = engine::start(cfg);
      REQUIRE(eng.ok());
      auto g = (*eng)->call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/26", 51420});
      REQUIRE(std::holds_alternative<resp::bridge_name>(g));
      CHECK(narrowed_threads() == (pin ? 2 : 0));  // tun->udp and udp->tun
      (*eng)->stop();
      std::filesystem::remove_all(cfg.data_dir);
    }
  });
}
