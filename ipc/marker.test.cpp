#include "ipc/marker.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

using namespace overlayd::ipc;

TEST_CASE("marker: round trip keeps the dedicated identity fields") {
  network_marker m;
  m.upsert({"service:web", "wg-dedicated", "zl-x-d", "PUB", "10.200.0.64/26", 51421, "PRIV", "PUB", "zl-x-d"});
  m.upsert({"base", "bridge", "zl-b", "id", "10.200.0.0/26", std::nullopt, std::nullopt, std::nullopt, std::nullopt});
  std::string w;
  auto back = network_marker::parse(m.serialize(), &w);
  CHECK(w.empty());
  REQUIRE(back.networks().size() == 2);
  CHECK(*back.get("service:web") == *m.get("service:web"));
  CHECK(back.get("base")->wg_port == std::nullopt);
  CHECK(m.serialize().find("\"version\": 1") != std::string::npos);
}

TEST_CASE("marker: upsert replaces by owner, remove deletes") {
  network_marker m;
  m.upsert({"service:a", "wg-dedicated", "n1", "i", "s", 1, {}, {}, {}});
  m.upsert({"service:a", "wg-dedicated", "n2", "i", "s", 2, {}, {}, {}});
  REQUIRE(m.networks().size() == 1);
  CHECK(m.get("service:a")->name == "n2");
  CHECK(m.remove("service:a"));
  CHECK_FALSE(m.remove("service:a"));
  CHECK(m.networks().empty());
}

TEST_CASE("marker: malformed or missing files load empty; save is atomic and reloads") {
  std::string w;
  CHECK(network_marker::parse("{not json", &w).networks().empty());
  CHECK(w.find("malformed") != std::string::npos);
  char dir[] = "/tmp/marker-test-XXXXXX";
  REQUIRE(mkdtemp(dir));
  const std::string path = network_marker::path_in(dir);
  w.clear();
  CHECK(network_marker::load(path, &w).networks().empty());
  CHECK(w.empty());  // missing is not a warning
  network_marker m;
  m.upsert({"service:web", "wg-dedicated", "zl-d", "K", "10.1.0.0/26", 51421, "P", "K", "zl-d"});
  REQUIRE(m.save(path));
  CHECK(access((path + ".tmp").c_str(), F_OK) != 0);
  auto back = network_marker::load(path, &w);
  CHECK(back.get("service:web")->wg_port == 51421);
  { std::ofstream(path) << "garbage"; }
  w.clear();
  CHECK(network_marker::load(path, &w).networks().empty());
  CHECK_FALSE(w.empty());
  std::remove(path.c_str());
  rmdir(dir);
}
