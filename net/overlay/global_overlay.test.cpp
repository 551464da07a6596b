// overlay::parse_peer, the seed's peer_spec_to_info: an IPC PeerSpec (already
// validated at the edge) into the device's peer configuration.
#include <doctest/doctest.h>

#include "net/overlay/global_overlay.hpp"

using namespace overlayd;

namespace {
const std::string key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";  // bytes 0..31
}

// seed: peer_spec_to_info_parses_endpoint_and_keepalive. The seed's key is
// the placeholder "base64key" (boringtun parses it later); ours is decoded
// here, so a real key stands in for it.
TEST_CASE("a peer spec parses its key, endpoint, allowed IPs and keepalive") {
  auto p = overlay::parse_peer(key, "1.2.3.4:51820", "10.200.0.5/32,10.200.1.0/24", 25);
  REQUIRE(p.ok());
  CHECK(crypto::key_to_base64(p->key.span()) == key);
  CHECK(p->endpoint.to_string() == "1.2.3.4:51820");
  REQUIRE(p->allowed_ips.size() == 2);
  CHECK(p->allowed_ips[0].to_string() == "10.200.0.5/32");
  CHECK(p->allowed_ips[1].to_string() == "10.200.1.0/24");
  CHECK(p->persistent_keepalive == 25);
  auto v6 = overlay::parse_peer(key, "[fd00::1]:51820", "", 0);
  REQUIRE(v6.ok());
  CHECK(v6->endpoint.to_string() == "[fd00::1]:51820");
  CHECK(v6->allowed_ips.empty());
  CHECK(v6->persistent_keepalive == 0);
}

// seed: peer_spec_to_info_rejects_bad_endpoint, plus what the seed leaves to
// boringtun (key, CIDRs) and the u16 keepalive of WireGuard.
TEST_CASE("a peer spec with a bad endpoint, key, CIDR or keepalive is refused with the reason") {
  auto ep = overlay::parse_peer(key, "not-a-socket-addr", "", 0);
  REQUIRE_FALSE(ep.ok());
  CHECK(ep.err().message.find("invalid peer endpoint not-a-socket-addr") != std::string::npos);
  auto k = overlay::parse_peer("k", "1.2.3.4:51820", "", 0);
  REQUIRE_FALSE(k.ok());
  CHECK(k.err().message.find("invalid peer public key k") != std::string::npos);
  auto c = overlay::parse_peer(key, "1.2.3.4:51820", "10.0.0.0/8,10.0.0/8", 0);
  REQUIRE_FALSE(c.ok());
  CHECK(c.err().message.find("10.0.0/8") != std::string::npos);
  auto ka = overlay::parse_peer(key, "1.2.3.4:51820", "", 65536);
  REQUIRE_FALSE(ka.ok());
  CHECK(ka.err().message == "persistent_keepalive_secs 65536 exceeds 65535");
  CHECK(overlay::parse_peer(key, "1.2.3.4:51820", "", 65535).ok());
}
