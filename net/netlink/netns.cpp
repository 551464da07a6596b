#include "net/netlink/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>


namespace overlayd::netlink {

result<netns_fd> netns_fd::of_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return system_error("open netns", path, errno);
  return netns_fd(fd);
}

result<netns_fd> netns_fd::of_pid(int pid) {
  if (pid <= 0) return error(errc::invalid_argument, "netns of pid " + std::to_string(pid));
  return of_path("/proc/" + std::to_string(pid) + "/ns/net");
}

result<netns_fd> netns_fd::of_name(std::string_view name) {
  // Same rule as interface names is too strict; just refuse path tricks.
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..")
    return error(errc::invalid_argument, "netns name '" + std::string(name) + "'");
  return of_path("/run/netns/" + std::string(name));
}

result<netns_fd> netns_fd::current() { return of_path("/proc/thread-self/ns/net"); }

status enter_netns_on_this_thread(int ns) {
  if (::setns(ns, CLONE_NEWNET) != 0) return system_error("setns", "network namespace", errno);
  return {};
}

}  // namespace overlayd::netlink
