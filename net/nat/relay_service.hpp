// The relay server on a real UDP socket: the socket-owning wrapper the
// overlay-relayd program and the nat_orchestrator (on its own thread) use.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "core/error.hpp"
#include "net/nat/relay_server.hpp"
#include "net/nat/udp_socket.hpp"

namespace overlayd::net::nat {

class relay_service {
 public:
  // Binds `listen`; sessions' relayed endpoints use opts.external_ip.
  static result<relay_service> start(const endpoint& listen, relay_server_options opts);

  // Serves until `stop` becomes true (checked at least every poll_interval).
  status run(const std::atomic<bool>& stop,
             std::chrono::milliseconds poll_interval = std::chrono::milliseconds(200));
  // Handles what arrived within `budget` (for tests driving it by hand).
  status run_once(std::chrono::milliseconds budget);

  endpoint local() const { return local_; }
  const relay_server& server() const { return *server_; }

 private:
  relay_service(udp_socket s, endpoint local, relay_server_options opts);
  udp_socket sock_;
  endpoint local_;
  std::unique_ptr<relay_server> server_;
  std::chrono::system_clock::time_point last_expire_{};
};

}  // namespace overlayd::net::nat
