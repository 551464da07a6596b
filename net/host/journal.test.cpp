#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>

#include "net/host/files.hpp"
#include "net/host/journal.hpp"
#include "net/host/sysctl.hpp"

using namespace overlayd;
using namespace overlayd::host;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/ovl-journal-test-XXXXXX";
  char* d = mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

}  // namespace

TEST_CASE("every change kind survives a serialize/deserialize round trip") {
  std::vector<change> in = {
      {change_kind::link, {{"name", "zl-x-b"}}},
      {change_kind::address, {{"dev", "zl-x-b"}, {"cidr", "10.200.0.1/26"}}},
      {change_kind::route, {{"dst", "10.200.0.7/32"}, {"dev", "veth-1-a"}}},
      {change_kind::sysctl, {{"key", "net.ipv4.ip_forward"}, {"prev", "0"}}},
      {change_kind::file, {{"path", "/etc/systemd/network/00-overlayd-unmanaged.network"}}},
      {change_kind::nft_table, {{"table", "overlayd"}}},
      {change_kind::nft_subnet, {{"table", "overlayd"}, {"cidrs", "10.200.0.0/16"}}},
      {change_kind::nft_masquerade, {{"table", "overlayd"}}},
      {change_kind::nft_member, {{"table", "overlayd"}, {"network", "a b"}, {"ip", "10.200.0.9"}}},
  };
  auto out = deserialize(serialize(in));
  REQUIRE(out.ok());
  CHECK(*out == in);
}

TEST_CASE("malformed journals are rejected with a reason, never half-read") {
  const char* bad[] = {
      "",
      "[]",
      "{\"version\":2,\"changes\":[]}",
      "{\"version\":1}",
      "{\"version\":1,\"changes\":[{\"kind\":\"nope\",\"params\":{}}]}",
      "{\"version\":1,\"changes\":[{\"kind\":\"link\",\"params\":{\"name\":5}}]}",
      "{\"version\":1,\"changes\":[{\"kind\":\"link\"}]}",
      "{\"version\":1,\"changes\":[7]}",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    auto r = deserialize(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == errc::protocol);
  }
}

TEST_CASE("records persist at once, are not duplicated and keep the first prev value") {
  auto dir = temp_dir();
  {
    auto j = journal::open(dir);
    REQUIRE(j.ok());
    CHECK(j->record({change_kind::sysctl, {{"key", "net.ipv4.ip_forward"}, {"prev", "0"}}}).ok());
    CHECK(j->record({change_kind::sysctl, {{"key", "net.ipv4.ip_forward"}, {"prev", "1"}}}).ok());
    CHECK(j->record({change_kind::link, {{"name", "zl-a-b"}}}).ok());
    CHECK(j->entries().size() == 2);
  }
  {
    // A new process (a restart after a crash) sees the same entries.
    auto j = journal::open(dir);
    REQUIRE(j.ok());
    REQUIRE(j->entries().size() == 2);
    CHECK(j->entries()[0].param("prev") == "0");
    CHECK(j->forget({change_kind::link, {{"name", "zl-a-b"}}}).ok());
    CHECK(j->forget({change_kind::link, {{"name", "absent"}}}).ok());
  }
  auto j = journal::open(dir);
  REQUIRE(j.ok());
  CHECK(j->entries().size() == 1);
  CHECK(remove_file(j->path()).ok());
  CHECK(::rmdir(dir.c_str()) == 0);
}

TEST_CASE("sysctl keys map to /proc/sys paths, with '/' standing for a dot in a level") {
  struct row {
    const char* key;
    const char* path;  // nullptr = invalid
  } rows[] = {
      {"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
      {"net.ipv6.conf.eth0/5.forwarding", "/proc/sys/net/ipv6/conf/eth0.5/forwarding"},
      {"net..x", nullptr},
      {"", nullptr},
      {"net.ipv4.", nullptr},
  };
  for (const auto& r : rows) {
    CAPTURE(r.key);
    auto p = sysctl_path(r.key);
    if (r.path == nullptr) {
      CHECK_FALSE(p.ok());
    } else {
      REQUIRE(p.ok());
      CHECK(*p == r.path);
    }
  }
  CHECK(ipv6_forwarding_key("zl-x-b") == "net.ipv6.conf.zl-x-b.forwarding");
  CHECK(ipv6_forwarding_key("eth0.5") == "net.ipv6.conf.eth0/5.forwarding");
  CHECK(ipv6_force_forwarding_key("zl-x-b") == "net.ipv6.conf.zl-x-b.force_forwarding");
}

TEST_CASE("adoption: leftovers stay unclaimed until this run records, claims or forgets them") {
  const std::string dir = temp_dir();
  auto j = journal::open(dir);
  REQUIRE(j);
  const change bridge{change_kind::link, {{"name", "zl-x-b"}}};
  const change gw{change_kind::address, {{"dev", "zl-x-b"}, {"cidr", "10.200.0.1/26"}}};
  const change veth{change_kind::link, {{"name", "veth-7-g"}}};
  const change vroute{change_kind::route, {{"dst", "10.200.1.9/32"}, {"dev", "veth-7-g"}}};
  const change vfwd{change_kind::sysctl, {{"key", "net.ipv6.conf.veth-7-g.forwarding"}, {"prev", "0"}}};
  const change other{change_kind::link, {{"name", "veth-8-s"}}};
  const change fwd{change_kind::sysctl, {{"key", "net.ipv4.ip_forward"}, {"prev", "0"}}};
  for (const auto& c : {bridge, gw, veth, vroute, vfwd, other, fwd}) REQUIRE(j->record(c));
  CHECK(j->unclaimed().empty());  // nothing is a leftover before a restart
  j->mark_unclaimed();
  CHECK(j->unclaimed().size() == 7);
  // Re-making the bridge claims it (a record for the same resource adds
  // nothing to the file); a sysctl's "prev" is not part of its identity.
  REQUIRE(j->record(bridge));
  REQUIRE(j->record({change_kind::sysctl, {{"key", "net.ipv4.ip_forward"}, {"prev", "1"}}}));
  CHECK(j->entries().size() == 7);
  CHECK(j->find(fwd)->param("prev") == "0");
  // A device adopted as it is: its link, routes and per-interface sysctls.
  j->claim_device("veth-7-g");
  // Forgotten: no longer a leftover either.
  REQUIRE(j->forget(other));
  std::vector<change> left = j->unclaimed();
  REQUIRE(left.size() == 1);
  CHECK(left[0] == gw);
  // A replace drops leftovers that are no longer on file.
  REQUIRE(j->replace({bridge}));
  CHECK(j->unclaimed().empty());
  std::system(("rm -rf " + dir).c_str());
}
