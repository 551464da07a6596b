// The UAPI Unix-socket server: listens on `<dir>/<iface>.sock` (mode 0600,
// the directory created 0755 if missing, as wireguard-go does) and answers
// the requests of wireguard-tools through a `uapi_handler`.
//
// One thread; one client at a time (wg opens, asks, closes), each client
// bounded by an idle timeout and uapi_max_request_bytes. The destructor stops
// the thread, closes every fd and unlinks the socket it created.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "core/error.hpp"
#include "net/wg/uapi.hpp"
#include "net/wg/unique_fd.hpp"

namespace overlayd::wg {

class uapi_server {
 public:
  // errc::already_exists when a live server already answers on that path; a
  // stale socket file (nobody listening) is replaced.
  static result<std::unique_ptr<uapi_server>> start(std::string_view dir, std::string_view iface,
                                                    uapi_handler& h);
  ~uapi_server();
  uapi_server(const uapi_server&) = delete;
  uapi_server& operator=(const uapi_server&) = delete;

  const std::string& path() const noexcept { return path_; }

 private:
  uapi_server(std::string path, unique_fd listen_fd, unique_fd stop_fd, uapi_handler& h);
  void run();
  void serve_client(int fd);

  std::string path_;
  unique_fd listen_;
  unique_fd stop_;  // eventfd: written once to stop the thread
  uapi_handler& h_;
  std::thread thread_;
};

}  // namespace overlayd::wg
