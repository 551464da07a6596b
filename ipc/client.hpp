// The C++ IPC client (overlayctl, tests, benchmarks, and any agent in C++).
//
//   auto c = client::connect("/run/x.sock");         // retries: 100 ms doubling to 1 s
//   result<response> r = c->call(req::status{});      // id-matched
//   uint64_t id = *c->send(req::status{});            // pipelining: send many...
//   auto [rid, resp] = *c->receive();                 // ...then receive in order
//
// Event frames arriving between responses are passed to the optional handler.
// Not thread-safe: one client per thread (or serialise access).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "ipc/types.hpp"

namespace overlayd::ipc {

class client {
 public:
  // Connects, retrying ENOENT/ECONNREFUSED with backoff (100 ms, doubling, at
  // most 1 s between tries) until `timeout` has passed.
  static result<std::unique_ptr<client>> connect(
      const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  result<response> call(const request& r);
  result<uint64_t> send(const request& r);
  result<std::pair<uint64_t, response>> receive();
  // Sends an already-encoded JSON payload as one frame (tests of bad input).
  status send_raw(const std::string& payload);

  void on_event(std::function<void(const event&)> fn) { on_event_ = std::move(fn); }
  int fd() const noexcept { return fd_; }

 private:
  explicit client(int fd) : fd_(fd) {}
  int fd_;
  uint64_t next_id_ = 1;
  std::function<void(const event&)> on_event_;
};

}  // namespace overlayd::ipc
