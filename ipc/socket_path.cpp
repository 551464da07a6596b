#include "ipc/socket_path.hpp"

#include <cstdio>

namespace overlayd::ipc {

uint64_t fnv1a64(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string default_socket_path(std::string_view data_dir) {
  if (data_dir == default_data_dir) return "/var/run/zlayer-overlayd.sock";
  std::string p(data_dir);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  p += "/run/zlayer-overlayd.sock";
  if (p.size() <= max_socket_path) return p;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(fnv1a64("overlayd", fnv1a64(data_dir))));
  return std::string("/tmp/zlayer-overlayd-") + hex + ".sock";
}

}  // namespace overlayd::ipc
