#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "net/wg/uapi_server.hpp"

using namespace overlayd;
using namespace overlayd::wg;

namespace {

struct fixed_device : uapi_handler {
  device_status uapi_get() override {
    device_status s;
    s.listen_port = 4242;
    return s;
  }
  status uapi_set(const device_update& u) override {
    last_port = u.listen_port.value_or(0);
    return {};
  }
  uint16_t last_port = 0;
};

std::string ask(const std::string& path, const std::string& req) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path.c_str());
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("the UAPI server answers on <dir>/<iface>.sock with mode 0600 and removes it on stop") {
  char tmpl[] = "/tmp/ovl-uapi-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = std::string(tmpl) + "/wireguard";
  fixed_device d;
  std::string path;
  {
    auto s = uapi_server::start(dir, "wgt0", d);
    REQUIRE(s.ok());
    path = (*s)->path();
    CHECK(path == dir + "/wgt0.sock");
    struct stat st{};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(ask(path, "get=1\n\n") == "listen_port=4242\nerrno=0\n\n");
    CHECK(ask(path, "set=1\nlisten_port=7\n\nget=1\n\n") ==
          "errno=0\n\nlisten_port=4242\nerrno=0\n\n");
    CHECK(d.last_port == 7);
    // A second server on the same name is refused while the first lives.
    auto dup = uapi_server::start(dir, "wgt0", d);
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.err().code == errc::already_exists);
  }
  CHECK_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(tmpl);
}
