// Client side of our relay as a plain class (no socket, clock passed in).
// It allocates a session, keeps it refreshed, binds the relay ports of the
// peers it wants to reach, and wraps/unwraps data frames. For the WireGuard
// device a relayed peer simply has the endpoint "relay_ip:peer_port" (the
// peer's relay candidate): wrap() turns a packet for that endpoint into a
// frame for the relay, and on_datagram() turns a frame from the relay back
// into (that endpoint, packet), so the WireGuard layer needs no change.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/nat/datagram.hpp"
#include "net/nat/relay_protocol.hpp"

namespace overlayd::net::nat {

struct relay_client_options {
  endpoint server;  // the relay's control address
  std::string credential;
  std::chrono::seconds lifetime{600};
  std::chrono::milliseconds rto{500};  // first retransmission timeout; doubles
};

enum class relay_client_state { idle, allocating, allocated, failed };

class relay_client {
 public:
  using wall = std::chrono::system_clock;
  static constexpr size_t max_peers = 64;

  explicit relay_client(relay_client_options opts);
  ~relay_client();
  relay_client(const relay_client&) = delete;
  relay_client& operator=(const relay_client&) = delete;

  // Begins (or restarts) the allocation; the request comes out of poll().
  void start(wall::time_point now);
  // Requests due now: (re)transmissions, the refresh at half the lifetime,
  // binds not yet confirmed. A request unanswered after its transmissions
  // fails the client (state failed, last_error says why).
  std::vector<outgoing_datagram> poll(wall::time_point now);

  struct delivered {
    endpoint from;  // relay_ip:peer_port, the peer's relay candidate
    bytes payload;
  };
  // Consumes a datagram from the relay. Data frames for our session come
  // back as `delivered`; control answers update state and return nothing.
  std::optional<delivered> on_datagram(const endpoint& from, byte_span d, wall::time_point now);

  // Asks the relay to pair us with the peer whose relay candidate is
  // `peer_relayed` (it must be on this relay). Idempotent.
  status bind_peer(const endpoint& peer_relayed, wall::time_point now);
  void unbind_peer(const endpoint& peer_relayed);
  // Frames `payload` for a bound peer; nullopt when the endpoint is not one
  // of our relayed peers (then the caller sends the packet directly).
  std::optional<outgoing_datagram> wrap(const endpoint& to, byte_span payload) const;
  bool is_relayed_peer(const endpoint& ep) const;
  bool paired(const endpoint& peer_relayed) const;
  // Sends a release; the client returns to idle.
  std::optional<outgoing_datagram> release(wall::time_point now);

  relay_client_state state() const noexcept { return state_; }
  const std::string& last_error() const noexcept { return last_error_; }
  std::optional<endpoint> relayed_endpoint() const;   // our relay candidate
  std::optional<endpoint> reflexive_endpoint() const { return reflexive_; }
  const endpoint& server() const noexcept { return opts_.server; }
  // What the device's data path needs (relay_routes.hpp): our session, its
  // token and the relay ports of the peers we asked to reach.
  uint32_t session_id() const noexcept { return session_; }
  uint64_t token() const noexcept { return token_; }
  std::vector<uint16_t> peer_ports() const;
  // Transmissions of the allocation still waiting for an answer (0 = none
  // pending): a relay that drops us (wrong credential) shows here first.
  unsigned allocate_transmissions() const;

 private:
  struct pending {
    relay::msg_type type;
    uint16_t port = 0;  // bind: peer port
    uint64_t nonce = 0;
    unsigned sent = 0;
    wall::time_point next{};
  };
  struct peer { bool paired = false; bool confirmed = false; };

  relay::control request(relay::msg_type t, wall::time_point now, uint64_t nonce) const;
  void queue(relay::msg_type t, uint16_t port, wall::time_point now);
  void on_control(const relay::control& c, wall::time_point now);
  void fail(std::string why);

  relay_client_options opts_;
  relay::auth_key key_;
  relay_client_state state_ = relay_client_state::idle;
  std::string last_error_;
  uint64_t token_ = 0;
  uint32_t session_ = 0;
  uint16_t port_ = 0;
  std::optional<endpoint> relayed_;
  std::optional<endpoint> reflexive_;
  std::chrono::seconds granted_{};
  wall::time_point refresh_at_{};
  std::vector<pending> pending_;
  std::map<uint16_t, peer> peers_;
  relay::replay_guard guard_;
};

}  // namespace overlayd::net::nat
