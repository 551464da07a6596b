// A service's container attachments, <data_dir>/attachments/<hex(service)>:
// what a restarted daemon needs to adopt the containers a previous run
// attached instead of cutting them off (docs/operations.md, "Restarts").
// Which process, which network namespace (so a recycled pid is not taken
// for the old container), and the addresses it holds.
//
// Format, one record a line, written whole and replaced atomically by the
// service's own actor (one owner per file):
//   overlayd-attachments 1
//   service <name>
//   <pid> TAB <netns dev:ino> TAB <service ip> TAB <global ip or -> TAB
//       <ephemeral 0|1> TAB <isolation network or ->
// Service and network names reach us validated at the IPC edge (no control
// characters), so a tab or newline never occurs inside a field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::net {

struct attachment_record {
  uint32_t pid = 0;
  std::string netns;  // "<st_dev>:<st_ino>" of /proc/<pid>/ns/net at attach
  ip_address service_ip;
  std::optional<ip_address> global_ip;
  bool ephemeral = false;
  std::optional<std::string> isolation_network;
  friend bool operator==(const attachment_record&, const attachment_record&) = default;
};

struct attachment_file {
  std::string service;
  std::vector<attachment_record> records;
};

inline constexpr const char* attachment_dir_name = "attachments";

// <data_dir>/attachments/<service as lowercase hex> (any service name is a
// safe file name that way).
std::string attachment_file_path(const std::string& data_dir, std::string_view service);

std::string format_attachment_file(const attachment_file& f);
// errc::protocol naming the line when the text is not a file we wrote.
result<attachment_file> parse_attachment_file(std::string_view text);

// "<st_dev>:<st_ino>" of /proc/<pid>/ns/net; not_found when the process is gone.
result<std::string> netns_identity(uint32_t pid);

}  // namespace overlayd::net
