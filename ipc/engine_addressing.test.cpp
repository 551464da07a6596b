// Multi-node addressing and retry semantics through the embedding API:
// service subnets from the cluster-wide rule (net/ipam.hpp), persisted across
// restarts; routes that contradict local addressing refused; requests the
// agent retries answered as the first time; isolation that fails closed.
// Privileged cases run in a network namespace of their own.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "actors/observability.hpp"
#include "ipc/engine_test_util.hpp"
#include "net/ipam.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
using namespace overlayd::ipc::testing;

namespace {
const bool not_root = ::geteuid() != 0;
const std::string peer_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const std::string other_key = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

req::setup_global_overlay global(std::string cluster, std::string slice, uint16_t port = 51820) {
  return req::setup_global_overlay{"dep", "i0", std::move(cluster), std::move(slice), port};
}

template <class R>
const R& expect(const response& r) {
  REQUIRE_MESSAGE(std::holds_alternative<R>(r), err_of(r));
  return std::get<R>(r);
}

// The subnet the cluster-wide rule gives (service, node) on an empty cluster.
net::cidr rule_subnet(const std::string& cluster, const std::string& svc, const std::string& node) {
  auto reg = net::subnet_registry::create(*net::cidr::parse(cluster));
  REQUIRE(reg.ok());
  return *reg->assign(svc, node);
}

std::optional<actors::service_row> row_of(engine& e, const std::string& svc) {
  auto rows = e.services();
  REQUIRE(rows.ok());
  for (auto& r : *rows)
    if (r.service == svc) return r;
  return std::nullopt;
}
}  // namespace

TEST_CASE("detaching a windows_container on Linux answers ok") {
  engine_config cfg;
  cfg.data_dir = temp_dir("addr-win");
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  CHECK(std::holds_alternative<resp::ok>((*eng)->call(req::detach_container{windows_container{"c1", std::nullopt}})));
  (*eng)->stop();
  std::filesystem::remove_all(cfg.data_dir);
}

TEST_CASE("service subnets follow the node id, avoid the node slice, and come back after a restart") {
  if (not_root) return;
  in_private_netns([&] {
    const std::string dir = temp_dir("addr-persist");
    engine_config cfg;
    cfg.data_dir = dir;
    cfg.uapi_dir = dir + "/uapi";
    std::filesystem::create_directories(cfg.uapi_dir);
    net::cidr first;
    {
      auto eng = engine::start(cfg);
      REQUIRE(eng.ok());
      auto& e = **eng;
      expect<resp::ok>(e.call(req::set_local_node_id{7}));
      expect<resp::bridge_name>(e.call(global("10.220.0.0/16", "10.220.1.0/24")));
      expect<resp::service_overlay>(e.call(req::setup_service_overlay{"web", overlay_mode::auto_}));
      auto row = row_of(e, "web");
      REQUIRE(row);
      REQUIRE(row->subnet);
      first = *row->subnet;
      // web@7's natural slot, 10.220.1.192/26, lies in this node's slice:
      // probing goes on to the first slot after the slice.
      const net::cidr natural = rule_subnet("10.220.0.0/16", "web", "7");
      REQUIRE(net::cidr::parse("10.220.1.0/24")->contains(natural));
      CHECK(first == *net::cidr::parse("10.220.2.0/26"));
      CHECK(row->gateway == first.network().plus(1));
      CHECK(contains(sh("ip -o addr show dev " + row->bridge), first.network().plus(1).to_string() + "/26"));
      e.stop();
    }
    // The restart reverts the host state; the assignment survives on disk.
    CHECK(std::filesystem::exists(dir + "/service_subnets"));
    {
      auto eng = engine::start(cfg);
      REQUIRE(eng.ok());
      auto& e = **eng;
      expect<resp::ok>(e.call(req::set_local_node_id{7}));
      expect<resp::bridge_name>(e.call(global("10.220.0.0/16", "10.220.1.0/24")));
      expect<resp::service_overlay>(e.call(req::setup_service_overlay{"web", overlay_mode::auto_}));
      auto row = row_of(e, "web");
      REQUIRE(row);
      CHECK(row->subnet == first);
      e.stop();
    }
    std::filesystem::remove_all(dir);
  });
}

TEST_CASE("a slot routed to a peer is skipped; routes over local subnets are refused, inner ones allowed") {
  if (not_root) return;
  in_private_netns([&] {
    scoped_engine e("addr-routes");
    expect<resp::ok>(e.call(req::set_local_node_id{1}));
    expect<resp::bridge_name>(e.call(global("10.220.0.0/16", "10.220.1.0/24")));
    // The peer (node 2) routes the slot web@1 would start at.
    const net::cidr natural = rule_subnet("10.220.0.0/16", "web", "1");
    expect<resp::ok>(e.call(req::add_peer{{peer_key, "127.0.0.1:51999", "10.220.2.0/24," + natural.to_string(), 0, {}}}));
    expect<resp::service_overlay>(e.call(req::setup_service_overlay{"web", overlay_mode::auto_}));
    auto row = row_of(*e.eng, "web");
    REQUIRE(row);
    REQUIRE(row->subnet);
    const net::cidr web = *row->subnet;
    CHECK(web != natural);
    CHECK_FALSE(web.overlaps(natural));
    CHECK_FALSE(web.overlaps(*net::cidr::parse("10.220.2.0/24")));

    // Equal, or covering: refused, naming both sides.
    auto eq = e.call(req::add_allowed_ip{peer_key, web.to_string(), {}});
    CHECK(contains(err_of(eq), web.to_string()));
    CHECK(contains(err_of(eq), "service web"));
    auto cover = e.call(req::add_allowed_ip{peer_key, "10.220.0.0/16", {}});
    CHECK(contains(err_of(cover), "10.220.0.0/16"));
    auto slice = e.call(req::add_peer{{other_key, "127.0.0.1:51998", "10.220.1.0/24", 0, {}}});
    CHECK(contains(err_of(slice), "own slice 10.220.1.0/24"));
    // Nothing of the refused requests reached the device.
    for (const auto& p : e.status().peers) {
      CHECK_FALSE(contains(p.allowed_ips, web.to_string()));
      CHECK_FALSE(contains(p.allowed_ips, "10.220.0.0/16"));
      CHECK(p.public_key != other_key);
    }
    // More specific, inside the local subnet (a guest's /32): allowed.
    const std::string inner = web.network().plus(9).to_string() + "/32";
    expect<resp::ok>(e.call(req::add_allowed_ip{peer_key, inner, {}}));

    // A CIDR moving between peers is WireGuard's rule: done, logged, counted.
    expect<resp::ok>(e.call(req::add_peer{{other_key, "127.0.0.1:51998", "10.220.3.0/24", 0, {}}}));
    const auto moves = e.eng->observability().counters().allowed_ip_moves.load();
    expect<resp::ok>(e.call(req::add_allowed_ip{other_key, "10.220.2.0/24", {}}));
    CHECK(e.eng->observability().counters().allowed_ip_moves.load() == moves + 1);
    for (const auto& p : e.status().peers) {
      CAPTURE(p.public_key);
      CHECK(contains(p.allowed_ips, "10.220.2.0/24") == (p.public_key == other_key));
    }
  });
}

TEST_CASE("the agent's retries answer as the first time: attach, guests, teardown and setup again") {
  if (not_root) return;
  in_private_netns([&] {
    scoped_engine e("addr-retry");
    // setup_service_overlay before setup_global_overlay: the default cluster.
    const auto early = expect<resp::service_overlay>(e.call(req::setup_service_overlay{"early", overlay_mode::auto_}));
    auto early_row = row_of(*e.eng, "early");
    REQUIRE(early_row);
    REQUIRE(early_row->subnet);
    CHECK(*early_row->subnet == rule_subnet("10.200.0.0/16", "early", "0"));
    CHECK(contains(sh("ip -o link show dev " + early.info.name), early.info.name));

    expect<resp::bridge_name>(e.call(global("10.200.0.0/16", "10.200.1.0/24", 51820)));
    expect<resp::service_overlay>(e.call(req::setup_service_overlay{"web", overlay_mode::auto_}));
    container_process c;
    req::attach_container a;
    a.handle = linux_pid{static_cast<uint32_t>(c.pid)};
    a.service = "web";
    a.join_global = true;
    const auto first = expect<resp::attached>(e.call(a));
    const auto again = expect<resp::attached>(e.call(a));
    CHECK(again == first);
    CHECK(contains(c.exec("ip -o addr show dev eth0"), first.result.ip.to_string() + "/26"));
    auto row = row_of(*e.eng, "web");
    REQUIRE(row);
    CHECK(row->members == 1);  // the retry allocated nothing

    // Guests: the same id and service answers the same config (keys too).
    req::attach_container g;
    g.handle = guest_managed{"vm-1"};
    g.service = "web";
    const auto gc = expect<resp::guest_config>(e.call(g));
    CHECK(e.call(g) == response(gc));

    // The dedicated band is 51421.. whatever the cluster port (51820 here).
    const auto ded = expect<resp::service_overlay>(e.call(req::setup_service_overlay{"db", overlay_mode::dedicated}));
    REQUIRE(ded.info.wg_port);
    CHECK(*ded.info.wg_port == 51421);

    // Teardown and a new setup: no guest peer comes back on the new device,
    // and service setup works afterwards too.
    expect<resp::ok>(e.call(req::teardown_global_overlay{}));
    expect<resp::service_overlay>(e.call(req::setup_service_overlay{"after", overlay_mode::auto_}));
    expect<resp::bridge_name>(e.call(global("10.200.0.0/16", "10.200.1.0/24", 51820)));
    for (const auto& p : e.status().peers) CHECK(p.public_key != gc.config.public_key);
    CHECK(e.status().peers.empty());
  });
}

TEST_CASE("isolation fails closed: an attach whose fence cannot be installed is refused and leaves nothing") {
  if (not_root) return;
  in_private_netns([&] {
    // Someone else's empty table of our name: our maps are missing, so every
    // isolation rule fails to install.
    (void)sh("nft add table inet overlayd-iso-test 2>&1");
    scoped_engine e("addr-iso");
    e.eng->stop();
    e.cfg.firewall_table = "overlayd-iso-test";
    auto restarted = engine::start(e.cfg);
    REQUIRE(restarted.ok());
    e.eng = std::move(restarted).value();
    expect<resp::bridge_name>(e.call(global("10.200.0.0/16", "10.200.1.0/24")));
    expect<resp::service_overlay>(e.call(req::setup_service_overlay{"web", overlay_mode::isolated}));
    container_process c;
    req::attach_container a;
    a.handle = linux_pid{static_cast<uint32_t>(c.pid)};
    a.service = "web";
    a.isolation_network = "red";
    auto r = e.call(a);
    CHECK(contains(err_of(r), "isolation network red"));
    CHECK(contains(err_of(r), "not attached"));
    CHECK_FALSE(contains(c.exec("ip -o link"), "eth0"));
    CHECK(sh("ip -o link show veth-" + std::to_string(c.pid) + "-s 2>/dev/null").empty());
    auto row = row_of(*e.eng, "web");
    REQUIRE(row);
    CHECK(row->members == 0);
    // Guests fail closed the same way.
    req::attach_container g;
    g.handle = guest_managed{"vm-9"};
    g.service = "web";
    g.isolation_network = "red";
    CHECK(contains(err_of(e.call(g)), "could not be fenced"));
    CHECK(e.status().peers.empty());
    (void)sh("nft delete table inet overlayd-iso-test 2>&1");
  });
}

TEST_CASE("an unreadable service_subnets file is kept aside, reported, and assignments start afresh") {
  if (not_root) return;
  in_private_netns([&] {
    const std::string dir = temp_dir("addr-corrupt");
    std::filesystem::create_directories(dir + "/uapi");
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    { std::ofstream(dir + "/service_subnets") << "overlayd-service-subnets 1\ncluster 10.220.0.0/16\ntorn"; }
    engine_config cfg;
    cfg.data_dir = dir;
    cfg.uapi_dir = dir + "/uapi";
    auto eng = engine::start(cfg);
    REQUIRE_MESSAGE(eng.ok(), (eng.ok() ? "" : eng.err().message));
    auto& e = **eng;
    expect<resp::bridge_name>(e.call(global("10.220.0.0/16", "10.220.1.0/24")));
    expect<resp::service_overlay>(e.call(req::setup_service_overlay{"web", overlay_mode::auto_}));
    bool aside = false;
    for (const auto& f : std::filesystem::directory_iterator(dir))
      aside = aside || f.path().filename().string().rfind("service_subnets.corrupt-", 0) == 0;
    CHECK(aside);
    const auto problems = e.observability().state_problems();
    CHECK(std::any_of(problems.begin(), problems.end(), [](const std::string& p) { return contains(p, "service subnets"); }));
    // The fresh file holds the new assignment.
    std::ifstream in(dir + "/service_subnets");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(contains(text, "\t0\tweb\n"));
    e.stop();
    std::filesystem::remove_all(dir);
  });
}
