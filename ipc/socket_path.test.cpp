#include <doctest/doctest.h>

#include "ipc/socket_path.hpp"

using namespace overlayd::ipc;

TEST_CASE("FNV-1a-64 matches the published test values") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

TEST_CASE("the socket path follows the data dir rules") {
  CHECK(default_socket_path("/var/lib/zlayer") == "/var/run/zlayer-overlayd.sock");
  CHECK(default_socket_path("/srv/node1") == "/srv/node1/run/zlayer-overlayd.sock");
  CHECK(default_socket_path("./.overlayd") == "./.overlayd/run/zlayer-overlayd.sock");
  const std::string long_dir = "/" + std::string(100, 'x');
  const auto p = default_socket_path(long_dir);
  CHECK(p.rfind("/tmp/zlayer-overlayd-", 0) == 0);
  CHECK(p.size() == std::string("/tmp/zlayer-overlayd-").size() + 16 + 5);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(fnv1a64(long_dir + "overlayd")));
  CHECK(p == "/tmp/zlayer-overlayd-" + std::string(hex) + ".sock");
}
