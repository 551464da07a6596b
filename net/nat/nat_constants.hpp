// NAT traversal constants and limits, with units in the type. Defaults follow
// the seed (`NatConfig::default`) except the STUN server list, which is empty
// here: nothing leaves the machine unless an operator configures a server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace overlayd::net::nat {

using namespace std::chrono_literals;

// --- NatConfig defaults (seed: nat_config_spec_to_config) ---
inline constexpr std::chrono::seconds default_hole_punch_timeout{15};
inline constexpr std::chrono::seconds default_stun_refresh_interval{60};
inline constexpr size_t default_max_candidate_pairs = 10;
inline constexpr size_t default_relay_max_sessions = 100;

// --- Candidate wire priorities (seed: host 100, server-reflexive 50, relay 10) ---
inline constexpr uint32_t priority_host = 100;
inline constexpr uint32_t priority_server_reflexive = 50;
inline constexpr uint32_t priority_relay = 10;
inline constexpr size_t max_local_candidates = 64;
inline constexpr size_t max_peer_candidates = 64;

// --- STUN (RFC 8489 section 6.2.1) ---
inline constexpr std::chrono::milliseconds stun_initial_rto{500};
inline constexpr std::chrono::milliseconds stun_max_rto{4000};
inline constexpr unsigned stun_max_transmissions = 5;  // Rc; RFC default 7, bounded tighter
inline constexpr size_t stun_max_message = 1500;
inline constexpr size_t stun_max_attributes = 64;

// --- Connect step (seed: a handshake newer than 75 s means "connected") ---
inline constexpr std::chrono::seconds handshake_fresh_for{75};
// A connected peer counts as lost only when its session keys would be
// rejected (WireGuard REJECT_AFTER_TIME): a healthy session rekeys every
// 120 s, so the 75 s rule would churn it.
inline constexpr std::chrono::seconds handshake_lost_after{180};
inline constexpr std::chrono::seconds direct_retry_interval{120};
inline constexpr std::chrono::milliseconds punch_interval{500};
// Punch packets go out with a low TTL: enough to leave our own NAT and open
// its mapping, too small to reach the peer's NAT. A full-TTL packet that
// reaches the peer's NAT before the peer has sent anything creates conntrack
// state there that makes the peer's own mapping clash and move to another
// port (seen with Linux masquerade), which defeats the punch. So each
// attempt punches for punch_lead before the first handshake initiation.
inline constexpr int punch_ttl = 2;
inline constexpr std::chrono::milliseconds punch_lead{1500};
// While a pair or the relay is being tried, the initiation is repeated this
// often (the first ones may die before the peer's side is ready).
inline constexpr std::chrono::milliseconds reinitiate_interval{2000};
// How long a handshake through the relay may take before the peer counts as
// unreachable (at least; hole_punch_timeout if longer). WireGuard sends at
// most one initiation per REKEY_TIMEOUT (5 s). Both sides punched in step,
// so their retransmission timers fire within the 333 ms jitter of each
// other; two initiations that cross (each sent before the other's was
// processed, a window of the relay's latency plus the handshake thread's
// wake-up, tens of ms on a loaded host) void each other: each side keeps
// only the newest handshake state and drops the other's response. Measured
// in nat_relay_nodes.sh on a loaded 2-core host: 2 of 10 first exchanges
// crossed. Five initiations' worth.
inline constexpr std::chrono::seconds relay_handshake_window{26};
inline constexpr size_t connect_log_depth = 8;

// --- Our relay (docs/relay-protocol.md) ---
inline constexpr std::chrono::seconds relay_default_lifetime{600};
inline constexpr std::chrono::seconds relay_min_lifetime{30};
inline constexpr std::chrono::seconds relay_max_lifetime{3600};
inline constexpr std::chrono::seconds relay_replay_window{30};  // |timestamp - now| bound
inline constexpr size_t relay_max_seen_nonces = 8192;
inline constexpr size_t relay_max_binds_per_session = 64;
inline constexpr uint16_t relay_port_first = 49152;  // virtual session ports
inline constexpr uint16_t relay_port_last = 65535;
inline constexpr std::chrono::milliseconds relay_request_rto{500};
inline constexpr unsigned relay_request_max_transmissions = 5;

// --- TURN (RFC 8656) ---
inline constexpr std::chrono::seconds turn_default_lifetime{600};
inline constexpr std::chrono::seconds turn_permission_lifetime{300};
inline constexpr std::chrono::seconds turn_channel_lifetime{600};
inline constexpr uint16_t turn_channel_first = 0x4000;
inline constexpr uint16_t turn_channel_last = 0x4FFF;
inline constexpr size_t turn_max_channels = 64;

}  // namespace overlayd::net::nat
