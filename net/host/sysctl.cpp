#include "net/host/sysctl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "net/host/files.hpp"

namespace overlayd::host {

result<std::string> sysctl_path(std::string_view key, std::string_view root) {
  std::string path(root);
  size_t start = 0;
  while (start <= key.size()) {
    size_t dot = key.find('.', start);
    if (dot == std::string_view::npos) dot = key.size();
    std::string level(key.substr(start, dot - start));
    for (char& c : level)
      if (c == '/') c = '.';
    if (level.empty() || level == "." || level == "..")
      return error(errc::invalid_argument, "sysctl key '" + std::string(key) + "'");
    path += "/" + level;
    start = dot + 1;
  }
  return path;
}

result<std::string> read_sysctl(std::string_view key, std::string_view root) {
  auto path = sysctl_path(key, root);
  if (!path) return std::move(path).err();
  auto text = read_file(*path);
  if (!text) return std::move(text).err();
  std::string v = std::move(*text);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

status write_sysctl(std::string_view key, std::string_view value, std::string_view root) {
  auto path = sysctl_path(key, root);
  if (!path) return std::move(path).err();
  int fd = ::open(path->c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return error(errc::not_found, "sysctl " + std::string(key) + " does not exist");
    return system_error("open sysctl", *path, errno);
  }
  std::string v(value);
  v += '\n';
  ssize_t n = ::write(fd, v.data(), v.size());
  int e = errno;
  ::close(fd);
  if (n < 0) return system_error("write sysctl", std::string(key) + "=" + std::string(value), e);
  return {};
}

namespace {

std::string conf_key(std::string_view dev, std::string_view leaf) {
  std::string d(dev);
  for (char& c : d)
    if (c == '.') c = '/';
  return "net.ipv6.conf." + d + "." + std::string(leaf);
}

}  // namespace

std::string ipv6_forwarding_key(std::string_view dev) { return conf_key(dev, "forwarding"); }
std::string ipv6_force_forwarding_key(std::string_view dev) {
  return conf_key(dev, "force_forwarding");
}

}  // namespace overlayd::host
