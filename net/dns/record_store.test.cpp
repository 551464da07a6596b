#include "net/dns/record_store.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::net::dns;

namespace {
ip_address IP(const char* s) { return ip_address::parse(s).value(); }
}

TEST_CASE("set replaces, add appends, remove forgets") {
  record_store s;
  REQUIRE(s.set("Web", IP("10.0.0.1")).ok());
  REQUIRE(s.set("web", IP("10.0.0.2")).ok());  // same name, any case
  CHECK(s.snapshot()->find("web")->addresses == std::vector{IP("10.0.0.2")});
  REQUIRE(s.add("web", IP("fd00::2")).ok());
  REQUIRE(s.add("web", IP("fd00::2")).ok());  // no duplicates
  CHECK(s.snapshot()->find("web")->addresses.size() == 2);
  CHECK(s.snapshot()->names_for(IP("fd00::2")).size() == 1);
  CHECK(s.remove("WEB"));
  CHECK_FALSE(s.remove("web"));
  CHECK(s.snapshot()->find("web") == nullptr);
  CHECK(s.snapshot()->names_for(IP("10.0.0.2")).empty());
}

TEST_CASE("a trailing dot marks a registration absolute") {
  record_store s;
  REQUIRE(s.set("db.overlay.", IP("10.0.0.1")).ok());
  REQUIRE(s.set("web", IP("10.0.0.2")).ok());
  CHECK(s.snapshot()->find("db.overlay")->absolute);
  CHECK_FALSE(s.snapshot()->find("web")->absolute);
}

TEST_CASE("record names are validated") {
  struct row {
    const char* name;
    bool ok;
  };
  const row rows[] = {{"web", true},     {"my_svc-1.overlay", true}, {"", false},   {".", false},
                      {"a..b", false},   {"sp ace", false},          {"a/b", false}, {"x.", true}};
  record_store s;
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(s.set(r.name, IP("10.0.0.1")).ok() == r.ok);
  }
}

TEST_CASE("the store refuses names and addresses beyond its limits") {
  record_store s(3);
  for (const char* n : {"a", "b", "c"}) REQUIRE(s.set(n, IP("10.0.0.1")).ok());
  auto r = s.set("d", IP("10.0.0.1"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::exhausted);
  CHECK(s.set("a", IP("10.0.0.2")).ok());  // existing names still change
  for (uint32_t i = 0; i < limits::max_addresses_per_name - 1; ++i)
    REQUIRE(s.add("a", ip_address::v4(0x0B000000u + i)).ok());
  CHECK(s.add("a", IP("12.0.0.1")).err().code == errc::exhausted);
}

TEST_CASE("snapshots are immutable and the serial moves on every change") {
  record_store s;
  auto before = s.snapshot();
  REQUIRE(s.set("web", IP("10.0.0.1")).ok());
  auto after = s.snapshot();
  CHECK(before->find("web") == nullptr);
  CHECK(after->find("web") != nullptr);
  CHECK(after->serial() > before->serial());
}

TEST_CASE("replace_all is all or nothing") {
  record_store s;
  REQUIRE(s.set("old", IP("10.0.0.1")).ok());
  CHECK_FALSE(s.replace_all({{"a", IP("10.0.0.2")}, {"bad name", IP("10.0.0.3")}}).ok());
  CHECK(s.snapshot()->find("old") != nullptr);
  REQUIRE(s.replace_all({{"a", IP("10.0.0.2")}, {"a", IP("10.0.0.3")}}).ok());
  CHECK(s.snapshot()->find("old") == nullptr);
  CHECK(s.snapshot()->find("a")->addresses.size() == 2);
}

TEST_CASE("readers and a writer can run concurrently") {
  record_store s;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      auto snap = s.snapshot();
      if (auto e = snap->find("web")) CHECK_FALSE(e->addresses.empty());
    }
  });
  for (uint32_t i = 0; i < 2000; ++i) {
    REQUIRE(s.set("web", ip_address::v4(i)).ok());
    if (i % 3 == 0) s.remove("web");
  }
  stop = true;
  reader.join();
}
