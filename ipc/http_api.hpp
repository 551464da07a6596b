// The HTTP control API (cpp-httplib), on loopback by default.
//
//   POST /v1/request         a request object in, the response object out
//                            (same path as the socket: validate → gateway)
//   GET  /v1/status          the status response
//   GET  /v1/nat             the nat_status response
//   GET  /v1/trace           ?since=SEQ&limit=N&correlation=ID
//   GET  /v1/trace.perfetto  Chrome trace-event JSON (open in Perfetto)
//   GET  /healthz            "ok"
//   GET  /metrics            Prometheus text
//
// Auth: any local user can reach loopback, so POST /v1/request always needs
// `Authorization: Bearer <token>` (token in <data_dir>/http.token, 0600,
// generated when absent). Read-only endpoints are open on loopback; bound to
// any other address, every endpoint (/healthz too) needs the token. Bodies
// over 1 MiB: 413; malformed JSON: 400 with the parse error; wrong or missing
// token: 401; a Host header naming neither the bound address nor localhost
// (DNS rebinding): 421, whatever the endpoint (http_host.hpp).
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"
#include "net/ip.hpp"

namespace overlayd::ipc {

class engine;

inline constexpr size_t max_http_body = 1024 * 1024;

// Reads <data_dir>/http.token, or creates it (32 random bytes, hex, 0600).
result<std::string> load_or_create_token(const std::string& data_dir);

class http_api {
 public:
  // Binds (a failure changes nothing); requests wait until serve().
  static result<std::unique_ptr<http_api>> bind(const net::endpoint& at, std::string token);
  // Starts answering with `eng`. Once.
  void serve(engine& eng);
  // bind + serve.
  static result<std::unique_ptr<http_api>> start(const net::endpoint& at, engine& eng, std::string token);
  ~http_api();
  void stop();
  uint16_t port() const noexcept { return port_; }

 private:
  struct impl;
  explicit http_api(std::unique_ptr<impl> im);
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace overlayd::ipc
