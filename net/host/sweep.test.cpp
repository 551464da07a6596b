#include <doctest/doctest.h>

#include "net/host/sweep.hpp"

using namespace overlayd::host;

TEST_CASE("orphan service bridge selection matches the seed's table") {
  // Ported from the seed's `orphan_bridge_selection`.
  std::set<std::string, std::less<>> live{"zl-prod-0-web-b", "zl-prod-0-api-b"};
  std::set<std::string, std::less<>> prot{"zl-prod-0-g", "zl-prod-0-shared-sh", "zl-prod-0-db-d"};
  const char* host_links[] = {
      "zl-prod-0-web-b", "zl-prod-0-api-b",                          // live -> keep
      "zl-prod-0-g",     "zl-prod-0-shared-sh", "zl-prod-0-db-d",    // protected -> keep
      "zl-1ca4568944-b", "zl-81c6bc17c7-b",                          // orphan bridges
      "zl-prod-0-gone-d",                                            // orphan device
      "veth-4242-s",     "vc-4242-g",                                // PID sweep's, not ours
      "eth0",            "lo",                  "docker0", "zl-not-a-bridge",  // unrelated
  };
  std::vector<std::string> orphans;
  for (const char* n : host_links)
    if (is_orphan_service_bridge(n, live, prot)) orphans.emplace_back(n);
  CHECK(orphans == std::vector<std::string>{"zl-1ca4568944-b", "zl-81c6bc17c7-b", "zl-prod-0-gone-d"});
}

TEST_CASE("the owning PID is read from veth-<pid>-* and vc-<pid>-* names only") {
  struct row {
    const char* name;
    int pid;  // 0 = none
  } rows[] = {
      {"veth-4242-s", 4242}, {"vc-17-g", 17},     {"veth-1", 1},        {"veth-x-1", 0},
      {"veth--1", 0},        {"vc-", 0},          {"eth0", 0},          {"veth-0-a", 0},
      {"veth-12a-b", 0},     {"zl-veth-1-b", 0},  {"veth-99999999999-a", 0},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto pid = veth_owner_pid(r.name);
    CHECK(pid.value_or(0) == r.pid);
  }
}

TEST_CASE("a process is alive while its /proc entry exists") {
  CHECK(process_alive(1));
  CHECK_FALSE(process_alive(1, "/nonexistent-proc"));
}
