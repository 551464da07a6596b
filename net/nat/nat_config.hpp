// The resolved NAT configuration (seed: NatConfig) and the fill-defaults rule
// of nat_config_spec_to_config: zero or empty sub-fields take the defaults.
// Kept free of ipc/ types; the lead copies NatConfigSpec fields into
// nat_config_input and calls resolve_nat_config.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/nat/nat_constants.hpp"
#include "net/ip.hpp"

namespace overlayd::net::nat {

struct turn_server_config {
  std::string address;  // "ip:port"
  std::string username;
  std::string credential;
};

struct relay_server_config {
  uint16_t listen_port = 0;
  std::string external_addr;  // "ip:port" peers use to reach the relay
  size_t max_sessions = 0;
  std::string auth_credential;  // cluster-wide; empty when the spec had none
};

// Mirrors NatConfigSpec (every field may be zero/empty).
struct nat_config_input {
  bool enabled = false;
  std::vector<std::string> stun_servers;
  std::vector<turn_server_config> turn_servers;
  uint64_t hole_punch_timeout_secs = 0;
  uint64_t stun_refresh_interval_secs = 0;
  uint64_t max_candidate_pairs = 0;
  std::optional<relay_server_config> relay_server;
};

struct nat_config {
  bool enabled = false;
  std::vector<std::string> stun_servers;  // default EMPTY: nothing leaves the host
  std::vector<turn_server_config> turn_servers;
  std::chrono::seconds hole_punch_timeout;
  std::chrono::seconds stun_refresh_interval;
  size_t max_candidate_pairs = 0;
  std::optional<relay_server_config> relay_server;
  // How often a relayed peer tries a direct path again. Not in NatConfigSpec:
  // a daemon option (overlayd --nat-direct-retry), default direct_retry_interval.
  std::chrono::seconds direct_retry = direct_retry_interval;
};

nat_config default_nat_config();
nat_config resolve_nat_config(nat_config_input in);

// Parses the configured STUN server strings ("ip:port"; names are not
// resolved here). The error names the bad entry.
result<std::vector<endpoint>> parse_server_list(const std::vector<std::string>& servers);

}  // namespace overlayd::net::nat
