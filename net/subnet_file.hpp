// The service-subnet assignments file, <data_dir>/service_subnets: what the
// registry handed out, so a restarted daemon gives every service the subnet
// it had (its bridges, routes and the peers' AllowedIPs on other nodes
// still name it).
//
// Format, one record a line, written whole and replaced atomically:
//   overlayd-service-subnets 1
//   cluster 10.220.0.0/16
//   <subnet> TAB <node key> TAB <service or registry key>
// Service names reach us validated at the IPC edge (no control characters),
// so a tab or newline never occurs inside a field.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::net {

struct subnet_record {
  std::string service;
  std::string node;
  cidr subnet;
  friend bool operator==(const subnet_record&, const subnet_record&) = default;
};

struct subnet_file {
  cidr cluster;
  std::vector<subnet_record> records;
};

inline constexpr const char* subnet_file_name = "service_subnets";

std::string format_subnet_file(const subnet_file& f);
// errc::protocol naming the line when the text is not a file we wrote.
result<subnet_file> parse_subnet_file(std::string_view text);

}  // namespace overlayd::net
