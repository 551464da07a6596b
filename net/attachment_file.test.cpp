#include <doctest/doctest.h>
#include <unistd.h>

#include "net/attachment_file.hpp"

using namespace overlayd;
using namespace overlayd::net;

namespace {
ip_address ip(const char* s) { return *ip_address::parse(s); }
}  // namespace

TEST_CASE("an attachments file round-trips, optional fields included") {
  attachment_file f;
  f.service = "web api";
  attachment_record a;
  a.pid = 1234;
  a.netns = "4:4026532001";
  a.service_ip = ip("10.200.64.2");
  attachment_record b = a;
  b.pid = 99;
  b.service_ip = ip("fd00:200::5");
  b.global_ip = ip("10.200.1.9");
  b.ephemeral = true;
  b.isolation_network = "red";
  f.records = {a, b};
  const std::string text = format_attachment_file(f);
  CHECK(text.starts_with("overlayd-attachments 1\nservice web api\n1234\t4:4026532001\t10.200.64.2\t-\t0\t-\n"));
  auto back = parse_attachment_file(text);
  REQUIRE(back);
  CHECK(back->service == "web api");
  CHECK(back->records == f.records);
}

TEST_CASE("an attachments file that is not ours, or torn, does not parse") {
  CHECK(parse_attachment_file("").err().code == errc::protocol);
  CHECK(parse_attachment_file("overlayd-attachments 2\nservice x\n").err().code == errc::protocol);
  CHECK(parse_attachment_file("overlayd-attachments 1\nservice x").err().code == errc::protocol);  // torn
  CHECK(parse_attachment_file("overlayd-attachments 1\nservice \n").err().code == errc::protocol);
  const std::string h = "overlayd-attachments 1\nservice x\n";
  CHECK(parse_attachment_file(h + "0\t1:2\t10.0.0.2\t-\t0\t-\n").err().code == errc::protocol);     // pid 0
  CHECK(parse_attachment_file(h + "12x\t1:2\t10.0.0.2\t-\t0\t-\n").err().code == errc::protocol);   // pid
  CHECK(parse_attachment_file(h + "12\t\t10.0.0.2\t-\t0\t-\n").err().code == errc::protocol);       // netns
  CHECK(parse_attachment_file(h + "12\t1:2\t10.0.0.999\t-\t0\t-\n").err().code == errc::protocol);  // ip
  CHECK(parse_attachment_file(h + "12\t1:2\t10.0.0.2\t-\t2\t-\n").err().code == errc::protocol);    // flag
  CHECK(parse_attachment_file(h + "12\t1:2\t10.0.0.2\t-\t0\n").err().code == errc::protocol);       // fields
  auto e = parse_attachment_file(h + "12\t1:2\t10.0.0.2\t-\t0\t-\n13\t1:2\tnope\t-\t0\t-\n");
  REQUIRE_FALSE(e);
  CHECK(e.err().message.find("line 4") != std::string::npos);
}

TEST_CASE("attachment file names are the service in hex; the netns identity is the process's") {
  CHECK(attachment_file_path("/d", "web") == "/d/attachments/776562");
  CHECK(attachment_file_path("/d", "../x") == "/d/attachments/2e2e2f78");
  auto self = netns_identity(static_cast<uint32_t>(::getpid()));
  REQUIRE(self);
  CHECK(self->find(':') != std::string::npos);
  CHECK(netns_identity(0x7ffffff0u).err().code == errc::not_found);
}
