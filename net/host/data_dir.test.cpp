#include "net/host/data_dir.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

using namespace overlayd;
using namespace overlayd::host;
namespace fs = std::filesystem;

namespace {
struct scratch {
  fs::path dir = fs::temp_directory_path() / ("overlayd-datadir-" + std::to_string(::getpid()));
  scratch() { fs::remove_all(dir); }
  ~scratch() { fs::remove_all(dir); }
};
}  // namespace

TEST_CASE("prepare_data_dir creates a missing data dir private to us") {
  scratch s;
  REQUIRE(prepare_data_dir((s.dir / "d").string()));
  struct stat st {};
  REQUIRE(::stat((s.dir / "d").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(st.st_uid == ::geteuid());
}

TEST_CASE("prepare_data_dir refuses a group- or world-writable data dir and says how to fix it") {
  scratch s;
  for (mode_t mode : {0770, 0702, 0777}) {
    CAPTURE(mode);
    fs::create_directories(s.dir);
    REQUIRE(::chmod(s.dir.c_str(), mode) == 0);
    auto st = prepare_data_dir(s.dir.string());
    REQUIRE_FALSE(st);
    CHECK(st.err().message.find("chmod go-w " + s.dir.string()) != std::string::npos);
  }
  REQUIRE(::chmod(s.dir.c_str(), 0755) == 0);
  CHECK(prepare_data_dir(s.dir.string()));
}

TEST_CASE("prepare_data_dir refuses a data dir owned by another uid") {
  if (::geteuid() != 0) return;  // only root can give a dir away; CI runs as root
  scratch s;
  fs::create_directories(s.dir);
  REQUIRE(::chown(s.dir.c_str(), 65534, 65534) == 0);
  auto st = prepare_data_dir(s.dir.string());
  REQUIRE_FALSE(st);
  CHECK(st.err().message.find("owned by uid 65534") != std::string::npos);
  CHECK(st.err().message.find("chown 0 " + s.dir.string()) != std::string::npos);
}

TEST_CASE("prepare_data_dir refuses a path that is a file") {
  scratch s;
  fs::create_directories(s.dir);
  { FILE* f = std::fopen((s.dir / "f").c_str(), "w"); REQUIRE(f); std::fclose(f); }
  CHECK_FALSE(prepare_data_dir((s.dir / "f").string()));
}

TEST_CASE("data_dir_lock: a second holder is refused with the first one's pid, until the first lets go") {
  scratch s;
  REQUIRE(prepare_data_dir(s.dir.string()));
  {
    auto first = data_dir_lock::acquire(s.dir.string());
    REQUIRE(first);
    auto second = data_dir_lock::acquire(s.dir.string());
    REQUIRE_FALSE(second);
    CHECK(second.err().code == errc::already_exists);
    CHECK(second.err().message.find("pid " + std::to_string(::getpid())) != std::string::npos);
  }
  CHECK(data_dir_lock::acquire(s.dir.string()));
}
