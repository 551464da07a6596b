// Our relay server as a plain class: datagrams in, datagrams out, the wall
// clock passed in. Sessions (allocations) are bounded by max_sessions, expire
// at their lifetime unless refreshed, and forward data only between two
// sessions that have each bound the other's relay port ("paired"), so two
// clients behind symmetric NATs can exchange WireGuard packets through it.
// Every control message must carry a valid BLAKE2b MAC under the cluster key
// and a fresh (timestamp, nonce); anything else is dropped without an answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/nat/datagram.hpp"
#include "net/nat/relay_protocol.hpp"

namespace overlayd::net::nat {

struct relay_server_options {
  ip_address external_ip;  // the IP in relayed endpoints handed to clients
  uint16_t listen_port = 0;  // never handed out as a session port
  size_t max_sessions = 100;
  std::string credential;  // cluster-wide relay credential; never empty (see below)
};

// Why a relay must not run keyless: its MAC key is derived from the
// credential, so with an empty one anyone can compute valid MACs, take every
// session and, with a "refresh" from a spoofed address, aim relayed traffic
// at a victim. relay_service::start and the daemon refuse an empty
// credential with this message; a relay_server built with one anyway drops
// every datagram.
inline constexpr const char* relay_credential_required =
    "the relay needs an auth_credential: without one its MAC key is public, so anyone "
    "could take its sessions and redirect relayed traffic";

struct relay_server_stats {
  uint64_t dropped_auth = 0;     // bad MAC / malformed
  uint64_t dropped_stale = 0;    // timestamp outside the window
  uint64_t dropped_replay = 0;   // nonce seen before
  uint64_t dropped_data = 0;     // data frame from a non-owner or to an unpaired port
  uint64_t refused = 0;          // authenticated requests answered with an error
  uint64_t allocations = 0;
  uint64_t forwarded = 0;
};

class relay_server {
 public:
  using wall = std::chrono::system_clock;

  explicit relay_server(relay_server_options opts);
  ~relay_server();
  relay_server(const relay_server&) = delete;
  relay_server& operator=(const relay_server&) = delete;

  std::vector<outgoing_datagram> on_datagram(const endpoint& from, byte_span d, wall::time_point now);
  // Drops sessions past their lifetime; call about once a second.
  void expire(wall::time_point now);

  size_t session_count() const noexcept { return sessions_.size(); }
  const relay_server_stats& stats() const noexcept { return stats_; }

 private:
  struct session {
    uint32_t id = 0;
    uint16_t port = 0;
    uint64_t token = 0;
    endpoint client;
    wall::time_point expires{};
    std::set<uint16_t> binds;  // peer ports this session asked to reach
  };

  std::vector<outgoing_datagram> on_control(const endpoint& from, byte_span d, wall::time_point now);
  std::vector<outgoing_datagram> on_data(const endpoint& from, byte_span d);
  relay::control handle_allocate(const endpoint& from, const relay::control& req, wall::time_point now);
  relay::control handle_refresh(session& s, const endpoint& from, const relay::control& req,
                                wall::time_point now);
  relay::control handle_bind(session& s, const relay::control& req, std::vector<outgoing_datagram>& out,
                             wall::time_point now);
  relay::control handle_release(session& s);
  session* find_owned(const relay::control& req);
  bool paired(const session& a, const session& b) const;
  uint16_t pick_port();
  relay::control answer(const relay::control& req, relay::msg_type t, wall::time_point now) const;
  relay::control refuse(const relay::control& req, relay::error_code e, wall::time_point now);

  relay_server_options opts_;
  relay::auth_key key_;
  relay::replay_guard guard_;
  std::unordered_map<uint32_t, session> sessions_;
  std::unordered_map<uint16_t, uint32_t> by_port_;
  relay_server_stats stats_;
  bool keyed_ = false;  // a non-empty credential was given
};

}  // namespace overlayd::net::nat
