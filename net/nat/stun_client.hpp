// STUN Binding client as a transaction machine (RFC 8489 section 6.2.1): one
// transaction per configured server, retransmitted with a doubling RTO and a
// bounded count, driven by the caller's clock. It owns no socket: poll()
// yields the datagrams to send, on_datagram() consumes the responses. This
// lets the probes leave through the WireGuard device's own UDP socket, so the
// reflexive endpoint is the mapping peers will actually see.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "net/nat/datagram.hpp"
#include "net/nat/stun_message.hpp"

namespace overlayd::net::nat {

struct stun_probe_result {
  endpoint server;
  std::optional<endpoint> reflexive;  // set on success
  std::string error;                  // set on failure ("timeout", "error 400 ...")
};

// How the NAT maps our socket (RFC 4787 section 4.1): the same reflexive
// endpoint toward two servers means endpoint-independent mapping (hole
// punching works); different ones mean endpoint-dependent ("symmetric").
enum class nat_mapping { unknown, endpoint_independent, endpoint_dependent };
std::string_view to_string(nat_mapping m) noexcept;
nat_mapping classify_mapping(const std::vector<stun_probe_result>& results);

class stun_client {
 public:
  static constexpr size_t max_servers = 16;

  // Begins one Binding transaction per server (at most max_servers); any
  // previous round is discarded.
  void start(const std::vector<endpoint>& servers, steady::time_point now);
  // First transmissions and retransmissions due at `now`; transactions that
  // used up their transmissions (and a final RTO wait) fail with "timeout".
  std::vector<outgoing_datagram> poll(steady::time_point now);
  // True when the datagram answered one of our transactions (then consumed).
  bool on_datagram(const endpoint& from, byte_span data);

  bool done() const noexcept;
  std::optional<steady::time_point> next_deadline() const noexcept;
  std::vector<stun_probe_result> results() const;

 private:
  enum class state { sending, done };
  struct transaction {
    endpoint server;
    transaction_id txn{};
    bytes request;
    unsigned sent = 0;
    std::chrono::milliseconds rto{};
    steady::time_point next{};
    state st = state::sending;
    stun_probe_result result;
  };
  std::vector<transaction> txns_;
};

}  // namespace overlayd::net::nat
