#include <doctest/doctest.h>

#include "net/wg/underlay_mtu.hpp"

using namespace overlayd::wg;

TEST_CASE("the default device MTU is the underlay's minus 80, held to 576..9000") {
  struct row {
    uint32_t underlay, device;
  };
  for (auto r : {row{1500, 1420}, row{1400, 1320}, row{1460, 1380}, row{9001, 8921},
                 row{65536, 9000}, row{600, 576}, row{0, 576}}) {
    CAPTURE(r.underlay);
    CHECK(device_mtu_for(r.underlay) == r.device);
  }
}

TEST_CASE("the underlay MTU toward loopback is the loopback device's") {
  // Loopback always routes (table local); its MTU is 65536 by default.
  auto c = underlay_mtu({*overlayd::net::ip_address::parse("127.0.0.1")});
  CHECK(c.mtu >= 1500);
  CHECK(c.source == "route to 127.0.0.1");
}
