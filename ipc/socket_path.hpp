// Where the IPC socket lives (spec: Transport).
//   default data dir (/var/lib/zlayer) -> /var/run/zlayer-overlayd.sock
//   otherwise                          -> <data_dir>/run/zlayer-overlayd.sock
//   ... longer than 103 bytes          -> /tmp/zlayer-overlayd-<16 hex>.sock,
//       hex = FNV-1a-64 over data-dir bytes + "overlayd", zero-padded lowercase.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace overlayd::ipc {

inline constexpr std::string_view default_data_dir = "/var/lib/zlayer";
inline constexpr size_t max_socket_path = 103;  // sun_path minus the NUL, minus slack

uint64_t fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL);
std::string default_socket_path(std::string_view data_dir);

}  // namespace overlayd::ipc
