#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>

#include "net/wg/uapi.hpp"

using namespace overlayd;
using namespace overlayd::net;
using namespace overlayd::wg;

namespace {

const std::string k1 = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
const std::string k2 = "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33";
const std::string k3 = "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376";

std::string hex(const secret_key& k) { return key_to_hex(k.span()); }

struct fake_device : uapi_handler {
  device_status st;
  std::vector<device_update> sets;
  status next = {};
  device_status uapi_get() override { return st; }
  status uapi_set(const device_update& u) override {
    sets.push_back(u);
    return next;
  }
};

}  // namespace

TEST_CASE("a full wg setconf request parses into a device update") {
  std::string body = "private_key=" + k1 +
                     "\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n"
                     "public_key=" + k2 +
                     "\npreshared_key=" + k3 +
                     "\nreplace_allowed_ips=true\nallowed_ip=10.99.0.2/32\n"
                     "allowed_ip=fd00::5/128\nendpoint=192.168.77.2:51821\n"
                     "persistent_keepalive_interval=25\nprotocol_version=1\n"
                     "public_key=" + k3 + "\nremove=true\n";
  auto u = parse_uapi_set(body);
  REQUIRE(u.ok());
  REQUIRE(u->private_key);
  CHECK(hex(*u->private_key) == k1);
  CHECK(u->listen_port == uint16_t{51820});
  CHECK(u->fwmark == uint32_t{0});
  CHECK(u->replace_peers);
  REQUIRE(u->peers.size() == 2);
  const auto& p = u->peers[0];
  CHECK(key_to_hex(p.key.bytes) == k2);
  REQUIRE(p.preshared_key);
  CHECK(hex(*p.preshared_key) == k3);
  CHECK(p.replace_allowed_ips);
  REQUIRE(p.allowed_ips.size() == 2);
  CHECK(p.allowed_ips[0].to_string() == "10.99.0.2/32");
  CHECK(p.allowed_ips[1].to_string() == "fd00::5/128");
  CHECK(p.endpoint->to_string() == "192.168.77.2:51821");
  CHECK(p.persistent_keepalive == uint16_t{25});
  CHECK_FALSE(p.remove);
  CHECK(u->peers[1].remove);
}

TEST_CASE("allowed_ip host bits are masked to the network") {
  auto u = parse_uapi_set("public_key=" + k2 + "\nallowed_ip=10.1.2.3/16\n");
  REQUIRE(u.ok());
  CHECK(u->peers[0].allowed_ips[0].to_string() == "10.1.0.0/16");
}

TEST_CASE("parsing stops at the blank line that ends the request") {
  auto u = parse_uapi_set("listen_port=1\n\nlisten_port=2\n");
  REQUIRE(u.ok());
  CHECK(u->listen_port == uint16_t{1});
}

TEST_CASE("malformed set requests are rejected with a reason") {
  struct row {
    std::string body;
    errc code;
  };
  const row rows[] = {
      {"listen_port\n", errc::invalid_argument},                       // no '='
      {"listen_port=65536\n", errc::invalid_argument},                 // out of range
      {"listen_port=-1\n", errc::invalid_argument},
      {"listen_port=\n", errc::invalid_argument},
      {"fwmark=4294967296\n", errc::invalid_argument},
      {"private_key=abc\n", errc::invalid_argument},                   // short key
      {"private_key=" + std::string(64, 'g') + "\n", errc::invalid_argument},
      {"replace_peers=false\n", errc::invalid_argument},
      {"bogus=1\n", errc::invalid_argument},
      {"endpoint=1.2.3.4:5\n", errc::invalid_argument},                // peer key at device level
      {"public_key=xyz\n", errc::invalid_argument},
      {"public_key=" + k2 + "\nendpoint=1.2.3.4\n", errc::invalid_argument},
      {"public_key=" + k2 + "\nendpoint=fd00::1:51820\n", errc::invalid_argument},
      {"public_key=" + k2 + "\nallowed_ip=10.0.0.0/33\n", errc::invalid_argument},
      {"public_key=" + k2 + "\nallowed_ip=10.0.0.0\n", errc::invalid_argument},
      {"public_key=" + k2 + "\nprotocol_version=2\n", errc::not_supported},
      {"public_key=" + k2 + "\npersistent_keepalive_interval=70000\n", errc::invalid_argument},
      {"public_key=" + k2 + "\nlisten_port=1\n", errc::invalid_argument},  // device key in peer
      {"public_key=" + k2 + "\nremove=yes\n", errc::invalid_argument},
  };
  for (const auto& r : rows) {
    CAPTURE(r.body);
    auto u = parse_uapi_set(r.body);
    REQUIRE_FALSE(u.ok());
    CHECK(u.err().code == r.code);
  }
}

TEST_CASE("the number of allowed IPs per peer is bounded") {
  std::string body = "public_key=" + k2 + "\n";
  for (size_t i = 0; i <= max_allowed_ips_per_peer; ++i)
    body += "allowed_ip=10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + "/32\n";
  auto u = parse_uapi_set(body);
  REQUIRE_FALSE(u.ok());
  CHECK(u.err().code == errc::exhausted);
}

TEST_CASE("hex keys round trip and reject bad digits") {
  auto k = key_from_hex(k1);
  REQUIRE(k.ok());
  CHECK(key_to_hex(*k) == k1);
  auto upper = key_from_hex("E84B5A6D2717C1003A13B431570353DBACA9146CF150C5F8575680FEBA52027A");
  REQUIRE(upper.ok());
  CHECK(*upper == *k);
  CHECK_FALSE(key_from_hex(k1.substr(1)).ok());
  CHECK_FALSE(key_from_hex(k1 + "0").ok());
}

TEST_CASE("a get reply lists the device then each peer, ending in errno=0") {
  device_status st;
  st.private_key = secret_key(std::span<const uint8_t, 32>(*key_from_hex(k1)));
  st.listen_port = 51820;
  st.fwmark = 7;
  peer_status p;
  p.key.bytes = *key_from_hex(k2);
  p.endpoint = *endpoint::parse("[fd00::2]:51821");
  p.allowed_ips = {*cidr::parse("10.99.0.2/32"), *cidr::parse("fd00::/64")};
  p.rx_bytes = 1234;
  p.tx_bytes = 5678;
  p.last_handshake = std::chrono::system_clock::time_point(
      std::chrono::seconds(1700000000) + std::chrono::nanoseconds(123456789));
  p.persistent_keepalive = 25;
  st.peers.push_back(p);
  peer_status q;
  q.key.bytes = *key_from_hex(k3);
  st.peers.push_back(q);
  CHECK(format_uapi_get(st) ==
        "private_key=" + k1 + "\nlisten_port=51820\nfwmark=7\npublic_key=" + k2 +
            "\nprotocol_version=1\nendpoint=[fd00::2]:51821\n"
            "last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=123456789\n"
            "tx_bytes=5678\nrx_bytes=1234\npersistent_keepalive_interval=25\n"
            "allowed_ip=10.99.0.2/32\nallowed_ip=fd00::/64\n"
            "public_key=" + k3 +
            "\nprotocol_version=1\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
            "tx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\nerrno=0\n\n");
}

TEST_CASE("a session answers requests split across reads, in order") {
  fake_device d;
  d.st.listen_port = 9;
  uapi_session s(d);
  std::string out;
  CHECK(s.feed("get=1\n", out));
  CHECK(out.empty());
  CHECK(s.feed("\nset=1\nlisten_port=5", out));
  CHECK(out == "listen_port=9\nerrno=0\n\n");
  CHECK(s.feed("1\n\n", out));
  CHECK(out == "listen_port=9\nerrno=0\n\nerrno=0\n\n");
  REQUIRE(d.sets.size() == 1);
  CHECK(d.sets[0].listen_port == uint16_t{51});
}

TEST_CASE("a set that fails reports a negative errno") {
  fake_device d;
  uapi_session s(d);
  std::string out;
  CHECK(s.feed("set=1\nlisten_port=x\n\n", out));
  CHECK(out == "errno=" + std::to_string(-EINVAL) + "\n\n");
  CHECK(d.sets.empty());
  out.clear();
  d.next = system_error("bind", "udp", EADDRINUSE);
  CHECK(s.feed("set=1\nlisten_port=1\n\n", out));
  CHECK(out == "errno=" + std::to_string(-EADDRINUSE) + "\n\n");
}

TEST_CASE("unknown operations close the session") {
  fake_device d;
  uapi_session s(d);
  std::string out;
  CHECK_FALSE(s.feed("del=1\n\n", out));
  CHECK(out == "errno=" + std::to_string(-EINVAL) + "\n\n");
}
