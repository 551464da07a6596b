// The host mutator's views changing one network namespace in parallel (as
// the per-service actors do) while a drift watch repairs on its own thread,
// for ThreadSanitizer (tests/tsan_tests; the test passes anywhere, root
// needed). Everything happens in a network namespace the test creates (its
// own nft table, no iptables) and a temporary data dir; revert_all leaves
// the namespace as it was.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/host/drift_watch.hpp"
#include "net/host/mutator.hpp"
#include "net/netlink/link.hpp"
#include "net/netlink/netns.hpp"

using namespace overlayd;
using namespace std::chrono_literals;

namespace {

net::cidr C(const std::string& s) { return *net::cidr::parse(s); }

// A fresh network namespace, held open by the returned fd.
netlink::netns_fd new_netns() {
  int fd = -1;
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) == 0) fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  }).join();
  return netlink::netns_fd(fd);
}

}  // namespace

TEST_CASE("host mutator: views change one namespace in parallel while the drift watch repairs") {
  if (::geteuid() != 0) return;  // a network namespace and links
  auto ns = new_netns();
  REQUIRE(ns.get() >= 0);
  const auto dir = std::filesystem::temp_directory_path() / ("overlayd-mutator-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  host::mutator_config cfg;
  cfg.data_dir = dir.string();
  cfg.firewall = {"overlayd_tsan", false};
  cfg.managers = {(dir / "networkd").string(), (dir / "nm").string()};

  auto m = netlink::run_in_netns(ns.get(), [&] { return host::mutator::open(cfg); });
  REQUIRE(m.ok());
  REQUIRE(netlink::run_in_netns(ns.get(), [&] { return m->ensure_subnet_rules({C("10.60.0.0/16")}); }).ok());

  std::atomic<int> repairs{0};
  auto watch_view = netlink::run_in_netns(ns.get(), [&] { return m->view(); });
  REQUIRE(watch_view.ok());
  auto watch = netlink::run_in_netns(ns.get(), [&] {
    return host::drift_watch::start(std::move(*watch_view), 20ms, [&] { ++repairs; });
  });
  REQUIRE(watch.ok());

  constexpr int workers = 3, rounds = 6;
  std::vector<host::mutator> views;
  for (int w = 0; w < workers; ++w) {
    auto v = netlink::run_in_netns(ns.get(), [&] { return m->view(); });
    REQUIRE(v.ok());
    views.push_back(std::move(*v));
  }
  std::atomic<int> failures{0};
  std::mutex first_mu;
  std::string first_failure;
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      if (!netlink::enter_netns_on_this_thread(ns.get())) {
        ++failures;
        return;
      }
      auto& v = views[w];
      auto ok = [&](const status& s) {
        if (s) return;
        std::lock_guard lock(first_mu);
        if (failures++ == 0) first_failure = s.err().message;
      };
      for (int r = 0; r < rounds; ++r) {
        const std::string br = "zl-t" + std::to_string(w) + "-" + std::to_string(r);
        const std::string net = "10.60." + std::to_string(w * 16 + r) + ".";
        ok(v.create_bridge(br));
        ok(v.add_address(br, C(net + "1/24")));
        ok(netlink::set_link_up(v.netlink(), br));  // not journaled: it goes with the link
        ok(v.enable_ipv6_forwarding(br));
        ok(v.replace_route(C("10.61." + std::to_string(w * 16 + r) + ".0/24"), br));
        ok(v.ensure_member_isolation("n" + std::to_string(w), *net::ip_address::parse(net + "5"),
                                     *net::ip_address::parse(net + "1"), C("10.60.0.0/16")));
        if (w == 0 && r % 4 == 0) ok(v.ensure_masquerade({C("10.60.0.0/16")}));
        (void)v.changes();
        (void)v.repair_route_drift();
        if (r % 2) {  // half of them go again at once
          ok(v.remove_member_isolation("n" + std::to_string(w), *net::ip_address::parse(net + "5")));
          ok(v.delete_route(C("10.61." + std::to_string(w * 16 + r) + ".0/24"), br));
          ok(v.delete_link(br));
        }
      }
    });
  for (auto& t : threads) t.join();
  MESSAGE("parallel changes took " << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count() << " ms");
  INFO(first_failure);
  CHECK(failures == 0);
  // Someone else flushes our table: the watch puts it back while we look.
  REQUIRE(netlink::run_in_netns(ns.get(), [&]() -> status {
            auto fw = firewall::firewall::open({"overlayd_tsan", false});
            if (!fw) return std::move(fw).err();
            return fw->remove_table();
          }).ok());
  for (int i = 0; i < 200 && repairs == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(repairs > 0);
  watch->reset();

  // Everything journaled is undone; only loopback is left in the namespace.
  REQUIRE(netlink::run_in_netns(ns.get(), [&] { return m->revert_all(); }).ok());
  CHECK(m->changes().empty());
  auto links = netlink::run_in_netns(ns.get(), [&]() -> result<size_t> {
    auto nl = netlink::socket::open();
    if (!nl) return std::move(nl).err();
    auto all = netlink::list_links(*nl);
    if (!all) return std::move(all).err();
    return all->size();
  });
  REQUIRE(links.ok());
  CHECK(*links == 1);
  std::filesystem::remove_all(dir);
}
