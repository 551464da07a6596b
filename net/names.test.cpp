#include <doctest/doctest.h>

#include "net/names.hpp"

using overlayd::net::make_interface_name;
using overlayd::net::max_ifname_len;
using overlayd::net::siphash13_zero_key;

TEST_CASE("interface names never exceed the kernel limit and keep the zl- prefix") {
  // Ported from the seed's interface_name_never_exceeds_limit.
  struct row { std::vector<std::string_view> parts; std::string_view suffix; };
  const row rows[] = {
      {{"a"}, "g"},
      {{"zlayer-manager"}, "g"},
      {{"my-very-long-deployment-name-that-goes-on-and-on"}, "g"},
      {{"zlayer", "manager"}, "s"},
      {{"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"}, "s"},
      {{"x"}, ""},
  };
  for (auto& r : rows) {
    auto name = make_interface_name(r.parts, r.suffix);
    CAPTURE(name);
    CHECK(name.size() <= max_ifname_len);
    CHECK(name.rfind("zl-", 0) == 0);
  }
}

TEST_CASE("interface names are deterministic") {
  CHECK(make_interface_name({"zlayer-manager"}, "g") == make_interface_name({"zlayer-manager"}, "g"));
}

TEST_CASE("short names are spelled out") {
  CHECK(make_interface_name({"prod", "0"}, "g") == "zl-prod-0-g");
  CHECK(make_interface_name({"prod", "0", "web"}, "b") == "zl-prod-0-web-b");
  CHECK(make_interface_name({"x"}, "") == "zl-x");
}

TEST_CASE("hashed names equal the Rust daemon's (values computed with rustc's DefaultHasher)") {
  // Hashes printed by a Rust program hashing the same parts with
  // std::collections::hash_map::DefaultHasher, as the seed does.
  struct row { std::vector<std::string_view> parts; std::string_view suffix; const char* name; };
  const row rows[] = {
      {{"my-very-long-deployment-name-that-goes-on-and-on"}, "g", "zl-69b24c01df-g"},
      {{"prod", "42", "web"}, "b", "zl-2b113f2ca5-b"},  // 16 bytes spelled out: hashed
      {{"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"}, "s", "zl-cedeb133ea-s"},
      {{"prod", "42", "payments-api"}, "d", "zl-6142b5133c-d"},
      {{"a", "b", "exactly8"}, "sh", "zl-d8d87cf3c-sh"},
  };
  for (auto& r : rows) {
    CAPTURE(r.name);
    CHECK(make_interface_name(r.parts, r.suffix) == std::string(r.name));
  }
}

TEST_CASE("siphash13 matches Rust's DefaultHasher on raw streams") {
  // "x" hashed as a str followed by "" as a str: "x\xff\xff".
  CHECK(siphash13_zero_key(std::string_view("x\xff\xff", 3)) == 0x16b3b3c4b847c778ULL);
  CHECK(siphash13_zero_key(std::string_view("zlayer\xffmanager\xffs\xff", 17)) ==
        0x27b8fceefda64696ULL);
}
