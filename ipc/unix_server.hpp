// The IPC Unix-socket server (spec: Transport).
//
// One accept thread; per connection a reader thread (frames in → engine) and a
// writer thread (responses out, in request order). Requests on one connection
// are pipelined through the engine but answered in the order they arrived: each
// gets a slot in the connection's queue when read, and the writer only writes
// the oldest slot once it is filled. At most max_inflight slots per connection
// (the reader stops reading until the writer catches up).
//
// Per the contract: a frame that is not a request gets no answer (logged); a
// request frame with a bad body is answered `err` under its id; an oversize
// frame closes that connection only.
//
// Limits per connection: max_inflight requests awaiting answers; a frame
// buffer that grows only as bytes arrive (framing.hpp); a frame whose first
// byte arrived must be complete within frame_timeout, else the connection
// closes. Per peer uid (SO_PEERCRED, peer_cred.hpp): at most
// max_connections_per_uid open at once, so one local user cannot take every
// slot of max_connections. The peer's pid/uid go with every request into the
// trace and the per-uid metrics.
#pragma once

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/error.hpp"

namespace overlayd::ipc {

class engine;
struct connection;

class unix_server {
 public:
  static constexpr size_t max_inflight = 1024;
  static constexpr size_t max_connections = 1024;
  static constexpr size_t max_connections_per_uid = 64;
  static constexpr std::chrono::seconds frame_timeout{10};

  // Creates parent dirs, binds, chmod 0660, chgrp `zlayer` when that group
  // exists, and listens; clients queue in the backlog until serve(). A
  // socket file already there is unlinked only when nobody answers on it
  // (a live daemon's socket is left alone: already_exists).
  static result<std::unique_ptr<unix_server>> bind(const std::string& path);
  // Starts accepting, handing requests to `eng`. Once.
  void serve(engine& eng);
  // bind + serve.
  static result<std::unique_ptr<unix_server>> start(const std::string& path, engine& eng);
  ~unix_server();

  // Stops accepting, closes every connection (their in-flight requests still
  // complete), joins every thread, removes the socket file. Idempotent.
  void stop();
  const std::string& path() const noexcept { return path_; }

 private:
  unix_server(std::string path, int listen_fd, int wake_fd);
  void accept_loop();
  void reap(bool all);

  std::string path_;
  engine* engine_ = nullptr;  // set by serve()
  int listen_fd_;
  int wake_fd_;  // eventfd: wakes the accept loop on stop()
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;  // guards conns_
  std::list<std::shared_ptr<connection>> conns_;
};

}  // namespace overlayd::ipc
