// `overlay-natprobe connect`: the whole NAT traversal path on ONE UDP socket,
// as the WireGuard device will run it: STUN for the server-reflexive
// candidate, host candidates, a relay allocation, then the connect planner
// against a peer whose candidates arrive through a file. A "handshake" is a
// hello/ack exchange standing in for WireGuard's initiation/response.
#pragma once

#include <string>

namespace overlayd::net::nat {

struct natprobe_connect_args {
  std::string bind, stun, relay, credential_file, out, peer_file;
  std::string turn, turn_user, turn_password_file;  // TURN as the relay instead of ours
  int timeout = 40;
  int hole_punch_timeout = 6;
  int punch_ttl = 2;
  int linger = 4;  // seconds to keep answering the peer after our outcome
};

int natprobe_connect(const natprobe_connect_args& a);

}  // namespace overlayd::net::nat
