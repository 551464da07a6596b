#include "ipc/marker_store.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "core/atomic_file.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
namespace fs = std::filesystem;

namespace {
struct marker_dir {
  fs::path dir = fs::temp_directory_path() / ("overlayd-marker-store-" + std::to_string(::getpid()));
  marker_dir() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~marker_dir() { fs::remove_all(dir); }
  std::string path() const { return network_marker::path_in(dir.string()); }
};

managed_network entry(const std::string& svc, uint16_t port) {
  return {network_marker::owner_for_service(svc), "wg-dedicated", "zl-" + svc + "-d", "PUB" + svc,
          "10.200.0.0/26", port, "PRIV" + svc, "PUB" + svc, "zl-" + svc + "-d"};
}
}  // namespace

TEST_CASE("marker_store: services updating at once all end up in the marker") {
  marker_dir d;
  marker_store store(d.path());
  std::vector<std::thread> ts;
  for (int i = 0; i < 16; ++i)
    ts.emplace_back([&, i] {
      CHECK(store.update([&](network_marker& m) {
        m.upsert(entry("s" + std::to_string(i), static_cast<uint16_t>(51821 + i)));
        return true;
      }));
    });
  for (auto& t : ts) t.join();
  auto m = store.read();
  REQUIRE(m);
  CHECK(m->networks().size() == 16);
  for (int i = 0; i < 16; ++i) CHECK(m->get(network_marker::owner_for_service("s" + std::to_string(i))));
}

TEST_CASE("marker_store: a malformed marker is moved aside, reported, and never overwritten") {
  marker_dir d;
  const std::string garbage = "{\"networks\": [ {\"owner\": \"service:db\", \"wg_private_key\": \"KEEP";
  REQUIRE(write_file_atomic(d.path(), garbage));
  std::string reported_aside;
  marker_store store(d.path(), [&](const std::string&, const std::string& aside, const std::string&) {
    reported_aside = aside;
  });
  REQUIRE(store.update([](network_marker& m) {
    m.upsert(entry("web", 51821));
    return true;
  }));
  REQUIRE_FALSE(reported_aside.empty());
  CHECK(reported_aside.rfind(d.path() + ".corrupt-", 0) == 0);
  auto kept = read_file_nofollow(reported_aside);
  REQUIRE(kept);
  CHECK(*kept == garbage);  // the keys it may hold are still there to recover
  auto m = store.read();
  REQUIRE(m);
  CHECK(m->networks().size() == 1);
}

TEST_CASE("marker_store: a marker that is a symlink is neither followed nor replaced") {
  marker_dir d;
  const auto target = d.dir / "elsewhere.json";
  REQUIRE(write_file_atomic(target.string(), "{}"));
  fs::create_symlink(target, d.path());
  marker_store store(d.path());
  CHECK_FALSE(store.update([](network_marker& m) {
    m.upsert(entry("web", 51821));
    return true;
  }));
  CHECK(fs::is_symlink(d.path()));
  CHECK(*read_file_nofollow(target.string()) == "{}");
}

TEST_CASE("marker_store: an update that changes nothing does not write") {
  marker_dir d;
  marker_store store(d.path());
  REQUIRE(store.update([](network_marker&) { return false; }));
  CHECK_FALSE(fs::exists(d.path()));
}

TEST_CASE("marker_store: a full disk fails the update and keeps the marker on disk as it was") {
  // A small tmpfs as the data dir (the unit tests run as root).
  marker_dir d;
  REQUIRE(::system(("mount -t tmpfs -o size=64k,mode=0700 ovl-marker-full " + d.dir.string()).c_str()) == 0);
  struct unmount {
    std::string dir;
    ~unmount() { (void)::system(("umount " + dir).c_str()); }
  } guard{d.dir.string()};
  marker_store store(d.path());
  REQUIRE(store.update([&](network_marker& m) {
    m.upsert(entry("a", 51821));
    return true;
  }));
  const auto before = read_file_nofollow(d.path());
  REQUIRE(before);
  // Take every free block.
  (void)::system(("dd if=/dev/zero of=" + (d.dir / "fill").string() + " bs=4k 2>/dev/null").c_str());
  auto st = store.update([&](network_marker& m) {
    m.upsert(entry("b", 51822));
    return true;
  });
  REQUIRE_FALSE(st);
  CHECK(st.err().message.find("No space left") != std::string::npos);
  auto after = read_file_nofollow(d.path());
  REQUIRE(after);
  CHECK(*after == *before);
  auto m = store.read();
  REQUIRE(m);
  CHECK(m->networks().size() == 1);
  for (const auto& e : fs::directory_iterator(d.dir))
    CHECK_MESSAGE(e.path().filename().string().find(".tmp") == std::string::npos, "temp file left: ", e.path());
}
