// A thin RAII UDP socket for the standalone programs and tests (the daemon
// sends through the WireGuard device's own socket instead).
#pragma once

#include <chrono>
#include <optional>

#include "core/error.hpp"
#include "net/ip.hpp"
#include "net/nat/byte_io.hpp"

namespace overlayd::net::nat {

class udp_socket {
 public:
  udp_socket() = default;
  ~udp_socket();
  udp_socket(udp_socket&& o) noexcept;
  udp_socket& operator=(udp_socket&& o) noexcept;
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;

  // Binds a socket of the endpoint's family (port 0 = any).
  static result<udp_socket> bind(const endpoint& local);

  status send_to(const endpoint& to, byte_span data) const;
  struct received {
    endpoint from;
    bytes data;
  };
  // Waits at most `timeout`; nullopt on timeout.
  result<std::optional<received>> receive(std::chrono::milliseconds timeout) const;
  result<endpoint> local_endpoint() const;
  int fd() const noexcept { return fd_; }

 private:
  explicit udp_socket(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace overlayd::net::nat
