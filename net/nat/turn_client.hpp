// TURN client (RFC 8656, formerly 5766) over UDP as a plain class: Allocate
// with long-term credentials (401 -> REALM/NONCE -> MESSAGE-INTEGRITY keyed
// with MD5(username:realm:password), 438 Stale Nonce handled), Refresh at
// half the lifetime, CreatePermission and ChannelBind per peer (refreshed
// before their 300 s / 600 s lifetimes), ChannelData framing for data and
// Send/Data indications before a channel is confirmed. No socket: poll()
// gives datagrams to send, on_datagram() consumes what the server sends.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/nat/datagram.hpp"
#include "net/nat/stun_message.hpp"

namespace overlayd::net::nat {

struct turn_client_options {
  endpoint server;
  std::string username;
  std::string password;
  std::chrono::seconds lifetime{600};
};

enum class turn_state { idle, allocating, allocated, failed };

// ChannelData framing (RFC 8656 section 12.4): channel, length, data.
bool looks_like_channel_data(byte_span d) noexcept;
bytes encode_channel_data(uint16_t channel, byte_span payload);
struct channel_data { uint16_t channel; byte_span payload; };
std::optional<channel_data> decode_channel_data(byte_span d);

class turn_client {
 public:
  explicit turn_client(turn_client_options opts);
  ~turn_client();
  turn_client(const turn_client&) = delete;
  turn_client& operator=(const turn_client&) = delete;

  void start(steady::time_point now);
  std::vector<outgoing_datagram> poll(steady::time_point now);

  struct delivered {
    endpoint peer;
    bytes payload;
  };
  std::optional<delivered> on_datagram(const endpoint& from, byte_span d, steady::time_point now);

  // Installs a permission and binds a channel for `peer` (idempotent).
  status add_peer(const endpoint& peer, steady::time_point now);
  // ChannelData once the channel is confirmed, else a Send indication once
  // the permission is; nullopt for unknown peers or before that.
  std::optional<outgoing_datagram> wrap(const endpoint& peer, byte_span payload) const;
  bool channel_bound(const endpoint& peer) const;
  // Every peer with its channel number (bound or still binding): what the
  // device's data path frames ChannelData with (relay_routes.hpp).
  std::vector<std::pair<endpoint, uint16_t>> channels() const;
  const endpoint& server() const noexcept { return opts_.server; }
  // Refresh with LIFETIME 0 (deallocate); the client returns to idle.
  std::optional<outgoing_datagram> release(steady::time_point now);

  turn_state state() const noexcept { return state_; }
  const std::string& last_error() const noexcept { return last_error_; }
  // Responses dropped for lacking a valid MESSAGE-INTEGRITY once authenticated.
  uint64_t dropped_unauthenticated() const noexcept { return dropped_unauthenticated_; }
  std::optional<endpoint> relayed_endpoint() const { return relayed_; }
  std::optional<endpoint> reflexive_endpoint() const { return reflexive_; }

 private:
  struct transaction {
    stun_method method;
    endpoint peer;
    uint16_t channel = 0;
    uint32_t lifetime = 0;
    transaction_id txn{};
    bytes wire;
    unsigned sent = 0;
    unsigned auth_retries = 0;
    std::chrono::milliseconds rto{};
    steady::time_point next{};
  };
  struct peer_state {
    uint16_t channel = 0;
    bool permitted = false;
    bool bound = false;
    steady::time_point refresh_at{};
  };

  void send_request(stun_method m, const endpoint& peer, uint16_t channel, uint32_t lifetime,
                    steady::time_point now, unsigned auth_retries = 0);
  void build(transaction& t);
  void on_response(const stun_message& m, steady::time_point now);
  void on_success(const transaction& t, const stun_message& m, steady::time_point now);
  void fail(std::string why);

  turn_client_options opts_;
  turn_state state_ = turn_state::idle;
  bool authenticated_ = false;  // the server answered with a valid MESSAGE-INTEGRITY
  uint64_t dropped_unauthenticated_ = 0;
  std::string last_error_;
  std::string realm_, nonce_;
  std::optional<std::array<uint8_t, 16>> key_;
  std::optional<endpoint> relayed_, reflexive_;
  steady::time_point refresh_at_{};
  std::vector<transaction> pending_;
  std::map<endpoint, peer_state> peers_;
  uint16_t next_channel_ = 0x4000;
};

}  // namespace overlayd::net::nat
