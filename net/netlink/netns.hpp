// Running work inside another network namespace without moving the caller:
// the work runs on a fresh thread that setns()'s into the target and exits
// afterwards, so the caller's thread (an actor's, a worker pool's) never
// changes namespace.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace overlayd::netlink {

// An owned fd naming a network namespace.
class netns_fd {
 public:
  netns_fd() = default;
  explicit netns_fd(int fd) noexcept : fd_(fd) {}

  // /proc/<pid>/ns/net (a container's namespace).
  static result<netns_fd> of_pid(int pid);
  // /run/netns/<name> (one made by `ip netns add`).
  static result<netns_fd> of_name(std::string_view name);
  // Any path to a namespace file.
  static result<netns_fd> of_path(const std::string& path);
  // The caller's current namespace.
  static result<netns_fd> current();

  int get() const noexcept { return fd_.get(); }

 private:
  unique_fd fd_;
};

// Enters `ns` on the calling thread. Only for threads that exist for this
// purpose (run_in_netns uses it); never call it on a shared thread.
status enter_netns_on_this_thread(int ns);

// Runs `work` inside the namespace `ns` on a dedicated thread and returns its
// result. `work` must return a result<T> or status.
template <class F>
auto run_in_netns(int ns, F&& work) -> decltype(work()) {
  using R = decltype(work());
  std::optional<R> out;
  try {
    std::thread t([&] {
      auto entered = enter_netns_on_this_thread(ns);
      if (!entered) {
        out.emplace(std::move(entered).err());
        return;
      }
      out.emplace(work());
    });
    t.join();
  } catch (const std::exception& e) {  // thread creation failed
    return R(error(errc::system, std::string("run_in_netns: ") + e.what()));
  }
  return std::move(*out);
}

}  // namespace overlayd::netlink
