#include <doctest/doctest.h>

#include "net/subnet_file.hpp"

using namespace overlayd;
using namespace overlayd::net;

TEST_CASE("the service-subnet file round-trips, and a torn or foreign file is refused") {
  subnet_file f;
  f.cluster = *cidr::parse("fd00:220::/48");
  f.records = {{"web", "1", *cidr::parse("fd00:220:0:67::/120")},
               {"__zlayer_shared_bridge__", "1", *cidr::parse("fd00:220::100/120")},
               {"name with spaces", "12", *cidr::parse("fd00:220::200/120")}};
  const std::string text = format_subnet_file(f);
  auto back = parse_subnet_file(text);
  REQUIRE(back.ok());
  CHECK(back->cluster == f.cluster);
  CHECK(back->records == f.records);

  CHECK_FALSE(parse_subnet_file(text.substr(0, text.size() - 1)).ok());  // torn: no final newline
  CHECK_FALSE(parse_subnet_file("").ok());
  CHECK_FALSE(parse_subnet_file("something else\ncluster 10.0.0.0/8\n").ok());
  CHECK_FALSE(parse_subnet_file("overlayd-service-subnets 1\ncluster nope\n").ok());
  auto bad = parse_subnet_file("overlayd-service-subnets 1\ncluster 10.0.0.0/8\n10.0.0.0/26 1\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("line 3") != std::string::npos);
  auto empty = parse_subnet_file("overlayd-service-subnets 1\ncluster 10.0.0.0/8\n");
  REQUIRE(empty.ok());
  CHECK(empty->records.empty());
}
