#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace overlayd;

namespace {
result<int> half(int x) {
  if (x % 2) return error(errc::invalid_argument, "odd");
  return x / 2;
}
status quarter_ok(int x) {
  OVERLAYD_TRY(half(x));
  OVERLAYD_TRY(half(x / 2));
  return {};
}
}  // namespace

TEST_CASE("result carries either a value or an error") {
  auto a = half(8);
  REQUIRE(a.ok());
  CHECK(*a == 4);
  auto b = half(3);
  REQUIRE_FALSE(b.ok());
  CHECK(b.err().code == errc::invalid_argument);
  CHECK(b.err().message == "odd");
}

TEST_CASE("OVERLAYD_TRY propagates the first error") {
  CHECK(quarter_ok(8).ok());
  CHECK_FALSE(quarter_ok(6).ok());
  CHECK(quarter_ok(6).err().message == "odd");
}

TEST_CASE("system_error names the operation, the object and errno") {
  auto e = system_error("open", "/nope", 2);
  CHECK(e.code == errc::system);
  CHECK(e.sys_errno == 2);
  CHECK(e.message.find("open /nope: ") == 0);
}
