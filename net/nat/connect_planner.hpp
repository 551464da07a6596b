// The connect step as a plain class. Given our local candidates, each peer's
// candidates and an oracle that says when the WireGuard handshake with a
// peer last completed (and from where), it decides what to send: which pair
// to point the peer's endpoint at, when to initiate handshakes and send
// punch packets, when to fall back to a relay and when to retry direct. The
// caller (nat_orchestrator) performs the actions on the device.
//
// Per peer:  idle -> punching -> (connected | relaying -> connected | unreachable)
//   * punching: first punch_lead of low-TTL punches only (see punch_ttl), then
//     pairs in priority order (at most max_pairs), each for an equal share of
//     the rest of hole_punch_timeout (at least 1 s); punches keep going to
//     every pair's remote address each punch_interval so both NATs open
//     mappings.
//   * success = a handshake completed after the attempt began; the address it
//     came from wins ("direct" for a peer host candidate, else "hole-punched").
//   * a peer is tried when it has no handshake newer than fresh_for (75 s);
//     once connected it is tried again only when the handshake is older than
//     lost_after (180 s). Relayed peers retry direct every direct_retry and
//     return to the relay if that fails.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/nat/candidate.hpp"
#include "net/nat/datagram.hpp"
#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {

enum class connection_type { direct, hole_punched, relayed, unreachable };
std::string_view to_string(connection_type t) noexcept;

struct candidate_pair {
  candidate local;
  candidate remote;
  uint64_t priority = 0;
};

// RFC 8445 section 6.1.2.3 pair priority (we are controlling: G = local):
// 2^32*min(G,D) + 2*max(G,D) + (G>D ? 1 : 0). Remote relay candidates are
// not paired (they are reached through a relay) and families must match.
// Pairs with the same remote address collapse to the best one (we have one
// socket, so the local side only matters for ordering). At most max_pairs.
std::vector<candidate_pair> form_pairs(const std::vector<candidate>& local, const std::vector<candidate>& remote,
                                       size_t max_pairs);

struct handshake_info {
  std::optional<steady::time_point> last_handshake;  // nullopt = never
  std::optional<endpoint> current;                   // where the device sees the peer now
};
using handshake_oracle = std::function<handshake_info(const std::string& peer)>;
// True when this relay candidate can be used from here (our relay client is
// allocated on that relay, or it is a TURN address we can reach).
using relay_oracle = std::function<bool(const endpoint& relay_candidate)>;

struct connect_action {
  enum class kind {
    set_endpoint,        // point the peer's WireGuard endpoint at `to`
    initiate_handshake,  // send a handshake initiation to `to` now (the endpoint is not changed)
    punch,               // send a small datagram to `to` from the WG socket with IP TTL punch_ttl
    bind_relay,          // pair with `to` (a relay candidate) on our relay client
  };
  kind what;
  std::string peer;
  endpoint to;
  friend bool operator==(const connect_action&, const connect_action&) = default;
};

struct connect_attempt {
  steady::time_point started{};
  std::vector<std::string> pairs_tried;  // "server-reflexive 203.0.113.5:51820"
  connection_type outcome = connection_type::unreachable;
  std::string reason;
};

struct peer_connect_status {
  std::string peer;
  std::optional<connection_type> type;  // nullopt until the first attempt ends
  std::optional<endpoint> remote_endpoint;
  std::vector<connect_attempt> log;  // oldest first, at most connect_log_depth
};

struct connect_params {
  size_t max_pairs = default_max_candidate_pairs;
  std::chrono::seconds hole_punch_timeout = default_hole_punch_timeout;
  std::chrono::milliseconds punch_interval = nat::punch_interval;
  std::chrono::milliseconds punch_lead = nat::punch_lead;  // low-TTL punches before the first initiation
  std::chrono::milliseconds reinitiate = reinitiate_interval;
  std::chrono::seconds direct_retry = direct_retry_interval;
  std::chrono::seconds fresh_for = handshake_fresh_for;
  std::chrono::seconds lost_after = handshake_lost_after;
  std::chrono::seconds relay_window = relay_handshake_window;  // at least; see nat_constants.hpp
};

class connect_planner {
 public:
  static constexpr size_t max_peers = 4096;

  explicit connect_planner(connect_params p);

  void set_local_candidates(std::vector<candidate> local);
  status set_peer(const std::string& peer, std::vector<candidate> remote);
  void remove_peer(const std::string& peer);

  std::vector<connect_action> tick(steady::time_point now, const handshake_oracle& handshake,
                                   const relay_oracle& relay_usable);

  std::vector<peer_connect_status> snapshot() const;

  // Why our own relays are not usable right now ("relay 198.51.100.1:3490:
  // did not answer ..."), appended to the reason of an attempt that ends
  // unreachable for want of a usable relay. Empty = nothing to say.
  void set_relay_problem(std::string why) { relay_problem_ = std::move(why); }

 private:
  enum class phase { idle, punching, relaying, connected, unreachable };
  struct peer_state {
    std::vector<candidate> remote;
    phase ph = phase::idle;
    std::optional<connection_type> type;
    std::optional<endpoint> remote_endpoint;
    std::vector<candidate_pair> pairs;
    size_t pair_index = 0;
    bool pair_started = false;  // false during the punch lead
    bool retrying_direct = false;  // punching while a relay path exists
    steady::time_point attempt_start{}, pair_deadline{}, next_punch{}, next_attempt{}, next_initiate{};
    std::optional<endpoint> relay_endpoint;
    std::deque<connect_attempt> log;
  };

  void tick_peer(const std::string& id, peer_state& p, steady::time_point now, const handshake_info& hs,
                 const relay_oracle& relay_usable, std::vector<connect_action>& out);
  void begin_attempt(const std::string& id, peer_state& p, steady::time_point now, bool retry_direct,
                     std::vector<connect_action>& out);
  void start_pair(const std::string& id, peer_state& p, steady::time_point now, std::vector<connect_action>& out);
  void after_pairs(const std::string& id, peer_state& p, steady::time_point now, const relay_oracle& relay_usable,
                   std::vector<connect_action>& out);
  void finish(peer_state& p, connection_type t, std::optional<endpoint> ep, std::string reason,
              steady::time_point now);
  steady::duration pair_budget(const peer_state& p) const;
  connection_type classify(const peer_state& p, const endpoint& ep) const;

  connect_params params_;
  std::vector<candidate> local_;
  std::map<std::string, peer_state> peers_;
  std::string relay_problem_;
};

}  // namespace overlayd::net::nat
