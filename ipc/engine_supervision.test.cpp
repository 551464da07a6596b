// Supervision and concurrency of the per-service actors, through the whole
// engine: a crashed service_overlay or dedicated_transport is restarted over
// its state and the service keeps working; a service whose actor is blocked
// (as on a slow netlink call) stalls neither status nor other services.
// Privileged: runs in a network namespace of its own (see in_private_netns),
// with "containers" that are sleep processes in namespaces of their own.
#include <doctest/doctest.h>

#include <future>

#include "ipc/engine_test_util.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
using namespace overlayd::ipc::testing;

namespace {
req::attach_container attach_pid(uint32_t pid, std::string service) {
  req::attach_container a;
  a.handle = linux_pid{pid};
  a.service = std::move(service);
  return a;
}

template <class T>
const T& expect(const response& r) {
  if (auto* e = std::get_if<resp::err>(&r)) FAIL("unexpected err: " << e->message);
  REQUIRE(std::holds_alternative<T>(r));
  return std::get<T>(r);
}

// An engine (scoped_engine) with the global overlay up.
struct overlay_engine : scoped_engine {
  explicit overlay_engine(const std::string& tag) : scoped_engine("sup-" + tag) {
    expect<resp::bridge_name>(
        call(req::setup_global_overlay{"dep", "i0", "10.200.0.0/16", "10.200.0.0/28", 51420}));
  }
  engine* operator->() { return eng.get(); }
};
}  // namespace

TEST_CASE("a crashed service_overlay is restarted with its bridge, pool and attachments" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    overlay_engine e("svc");
    const std::string bridge = expect<resp::service_overlay>(e->call(req::setup_service_overlay{"web", overlay_mode::auto_})).info.name;
    container_process c1, c2;
    const auto ip1 = expect<resp::attached>(e->call(attach_pid(c1.pid, "web"))).result.ip;

    REQUIRE(e->crash_child("service_overlay:web").ok());
    // The service's state survived: a second container joins the same bridge
    // with the next address and reaches the first.
    const auto ip2 = expect<resp::attached>(e->call(attach_pid(c2.pid, "web"))).result.ip;
    CHECK(ip2 != ip1);
    CHECK(sh("ip -o link show master " + bridge).find("veth-" + std::to_string(c2.pid) + "-s") != std::string::npos);
    CHECK(c2.exec("ping -c 1 -W 2 " + ip1.to_string()).find("1 received") != std::string::npos);
    // The first attachment's record survived too: detach releases its address.
    expect<resp::ok>(e->call(req::detach_container{linux_pid{static_cast<uint32_t>(c1.pid)}}));
    CHECK(sh("ip link show veth-" + std::to_string(c1.pid) + "-s 2>&1").find("does not exist") != std::string::npos);
    auto again = expect<resp::ip>(e->call(req::allocate_ip{"web", false})).ip;
    CHECK(again == ip1);
    // Crashing twice is no different; the status still counts one service.
    REQUIRE(e->crash_child("service_overlay:web").ok());
    CHECK(std::get<resp::status>(e->call(req::status{})).snapshot.service_count == 1);
    expect<resp::ok>(e->call(req::teardown_service_overlay{"web"}));
    CHECK(sh("ip link show " + bridge + " 2>&1").find("does not exist") != std::string::npos);
    CHECK(!e->crash_child("service_overlay:web").ok());  // retired with its service
  });
}

TEST_CASE("a crashed dedicated_transport is rebuilt from the marker with its peers" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    overlay_engine e("ded");
    const auto info = expect<resp::service_overlay>(e->call(req::setup_service_overlay{"db", overlay_mode::dedicated})).info;
    REQUIRE(info.wg_public_key);
    req::add_peer p{{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "10.99.0.9:51821", "10.200.9.0/26", 0, {}},
                    peer_scope{"db"}, true};
    expect<resp::ok>(e->call(p));
    auto dedicated = [&] {
      auto s = std::get<resp::status>(e->call(req::status{})).snapshot;
      REQUIRE(s.dedicated_services.size() == 1);
      return s.dedicated_services[0];
    };
    const auto before = dedicated();
    CHECK(before.peer_count == 1);

    REQUIRE(e->crash_child("dedicated_transport:db").ok());
    // Same identity (key, port, interface), its peer replayed, its route back.
    const auto after = dedicated();
    CHECK(after.public_key == before.public_key);
    CHECK(after.listen_port == before.listen_port);
    CHECK(after.interface == before.interface);
    CHECK(after.peer_count == 1);
    CHECK(sh("ip route show 10.200.9.0/26").find("dev " + after.interface) != std::string::npos);
    // And it keeps serving service-scoped requests.
    p.peer.public_key = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";
    p.peer.allowed_ips = "10.200.10.0/26";
    expect<resp::ok>(e->call(p));
    CHECK(dedicated().peer_count == 2);
    // Teardown takes the device and its marker entry with it.
    expect<resp::ok>(e->call(req::teardown_service_overlay{"db"}));
    CHECK(sh("ip link show " + after.interface + " 2>&1").find("does not exist") != std::string::npos);
    CHECK(std::get<resp::status>(e->call(req::status{})).snapshot.dedicated_services.empty());
  });
}

TEST_CASE("a blocked service stalls neither status nor other services, and its own requests stay ordered" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    overlay_engine e("conc");
    expect<resp::service_overlay>(e->call(req::setup_service_overlay{"web", overlay_mode::auto_}));
    expect<resp::service_overlay>(e->call(req::setup_service_overlay{"api", overlay_mode::auto_}));
    std::promise<void> release;
    auto h = e->stall_service("web", release.get_future().share());
    REQUIRE(h.entered.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    // web's actor is blocked. Its next request queues behind the block...
    std::promise<response> web_attach;
    container_process c1, c2;
    e->call_async(attach_pid(c1.pid, "web"), [&](response r) { web_attach.set_value(std::move(r)); });
    // ...while status and another service are served (generous bound: only
    // a deadlock would reach it).
    auto other = std::async(std::launch::async, [&] {
      auto s = e->call(req::status{});
      auto a = e->call(attach_pid(c2.pid, "api"));
      return std::make_pair(s, a);
    });
    REQUIRE(other.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    auto [s, a] = other.get();
    CHECK(std::get<resp::status>(s).snapshot.service_count == 2);
    expect<resp::attached>(a);
    auto web_future = web_attach.get_future();
    CHECK(web_future.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready);
    CHECK(h.done.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready);
    // Released: the blocked request answers, then the one queued behind it.
    release.set_value();
    REQUIRE(h.done.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    expect<resp::ok>(h.done.get());
    REQUIRE(web_future.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    expect<resp::attached>(web_future.get());
  });
}

TEST_CASE("the periodic sweep removes the veths of a container that died unseen, and only those" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    engine_config cfg;
    cfg.data_dir = temp_dir("sweep");
    cfg.uapi_dir = cfg.data_dir + "/uapi";
    cfg.veth_sweep_secs = 1;
    std::filesystem::create_directories(cfg.uapi_dir);
    auto eng = engine::start(cfg);
    REQUIRE(eng.ok());
    std::string dead = sh("sh -c 'echo $$'");  // a pid that has exited (and been reaped)
    dead.pop_back();
    const std::string live = std::to_string(::getpid());
    sh("ip link add veth-" + dead + "-s type veth peer name vc-" + dead + "-s");
    sh("ip link add veth-" + live + "-s type veth peer name vc-" + live + "-s");
    sh("ip link add veth-x-keep type veth peer name vc-x-keep");
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {  // bounded: 10 s for a 1 s timer
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      gone = sh("ip link show veth-" + dead + "-s 2>&1").find("does not exist") != std::string::npos;
    }
    CHECK(gone);
    CHECK(sh("ip link show veth-" + live + "-s 2>&1").find("does not exist") == std::string::npos);
    CHECK(sh("ip link show veth-x-keep 2>&1").find("does not exist") == std::string::npos);
    (**eng).stop();
  });
}

TEST_CASE("a killed allocator, dns or nat_orchestrator is restarted with the pools and records it had" *
          doctest::skip(::geteuid() != 0)) {
  in_private_netns([] {
    overlay_engine e("alloc");
    expect<resp::service_overlay>(e->call(req::setup_service_overlay{"web", overlay_mode::auto_}));
    const auto a1 = expect<resp::ip>(e->call(req::allocate_ip{"web", false})).ip;
    REQUIRE(e->crash_child("allocator").ok());
    // Same bridge pool, next address; the first one is still taken.
    const auto a2 = expect<resp::ip>(e->call(req::allocate_ip{"web", false})).ip;
    CHECK(a2 != a1);
    CHECK(net::cidr::parse("10.200.0.0/28")->contains(a2) == false);  // not the node slice: the bridge pool
    expect<resp::ok>(e->call(req::release_ip{a1}));
    CHECK(expect<resp::ip>(e->call(req::allocate_ip{"web", false})).ip == a1);
    // A service set up after the restart gets a subnet of its own, not web's.
    const auto web_sub = sh("ip -o -4 addr show dev " +
                            expect<resp::service_overlay>(e->call(req::setup_service_overlay{"web", overlay_mode::auto_})).info.name);
    const auto api_sub = sh("ip -o -4 addr show dev " +
                            expect<resp::service_overlay>(e->call(req::setup_service_overlay{"api", overlay_mode::auto_})).info.name);
    CHECK(web_sub.find(" inet ") != std::string::npos);
    CHECK(web_sub.substr(web_sub.find(" inet ")) != api_sub.substr(api_sub.find(" inet ")));
    // dns keeps its records; nat_orchestrator answers again.
    expect<resp::ok>(e->call(req::register_dns{"web-1", a2}));
    REQUIRE(e->crash_child("dns").ok());
    REQUIRE(e->crash_child("nat_orchestrator").ok());
    expect<resp::nat_status>(e->call(req::nat_status{}));
    CHECK(sh("dig +short +time=2 +tries=1 @10.200.0.1 web-1.overlay").find(a2.to_string()) != std::string::npos);
  });
}
