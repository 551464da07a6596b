#include "core/atomic_file.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>
#include <vector>

using namespace overlayd;
namespace fs = std::filesystem;

namespace {
struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("overlayd-atomic-" + std::to_string(::getpid()));
  temp_dir() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};
}  // namespace

TEST_CASE("write_file_atomic replaces the content whole, with the mode asked for") {
  temp_dir d;
  const std::string p = (d.path / "state.json").string();
  REQUIRE(write_file_atomic(p, "first", 0600));
  REQUIRE(write_file_atomic(p, "second", 0640));
  auto text = read_file_nofollow(p);
  REQUIRE(text);
  CHECK(*text == "second");
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()) == 1);  // no temp left
}

TEST_CASE("concurrent writers of one file never tear it and leave no temp behind") {
  temp_dir d;
  const std::string p = (d.path / "marker.json").string();
  std::vector<std::string> bodies;
  for (int i = 0; i < 8; ++i) bodies.push_back(std::string(64 * 1024, static_cast<char>('a' + i)));
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      for (int k = 0; k < 25; ++k)
        if (!write_file_atomic(p, bodies[i])) failures++;
    });
  for (auto& t : ts) t.join();
  CHECK(failures == 0);
  auto text = read_file_nofollow(p);
  REQUIRE(text);
  CHECK(std::set<std::string>(bodies.begin(), bodies.end()).count(*text) == 1);
  CHECK(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()) == 1);
}

TEST_CASE("a write into a missing directory fails and creates nothing") {
  temp_dir d;
  auto st = write_file_atomic((d.path / "nodir" / "f").string(), "x");
  CHECK_FALSE(st);
  CHECK_FALSE(fs::exists(d.path / "nodir"));
}

TEST_CASE("read_file_nofollow refuses a symlink and reports a missing file as not_found") {
  temp_dir d;
  const auto target = d.path / "target";
  REQUIRE(write_file_atomic(target.string(), "secret"));
  fs::create_symlink(target, d.path / "link");
  auto r = read_file_nofollow((d.path / "link").string());
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::invalid_argument);
  auto m = read_file_nofollow((d.path / "missing").string());
  REQUIRE_FALSE(m);
  CHECK(m.err().code == errc::not_found);
}

TEST_CASE("quarantine_file moves a file aside and never overwrites an earlier copy") {
  temp_dir d;
  const std::string p = (d.path / "host-journal.json").string();
  REQUIRE(write_file_atomic(p, "garbage 1"));
  auto a = quarantine_file(p);
  REQUIRE(a);
  CHECK(a->rfind(p + ".corrupt-", 0) == 0);
  CHECK_FALSE(fs::exists(p));
  REQUIRE(write_file_atomic(p, "garbage 2"));
  auto b = quarantine_file(p);
  REQUIRE(b);
  CHECK(*a != *b);
  CHECK(*read_file_nofollow(*a) == "garbage 1");
  CHECK(*read_file_nofollow(*b) == "garbage 2");
  CHECK_FALSE(quarantine_file(p));  // nothing left to move
}
