#include "ipc/peer_cred.hpp"

#include <sys/socket.h>

namespace overlayd::ipc {

std::optional<peer_cred> peer_cred_of(int fd) noexcept {
  ucred c{};
  socklen_t len = sizeof c;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0 || len != sizeof c) return std::nullopt;
  return peer_cred{static_cast<int32_t>(c.pid), static_cast<uint32_t>(c.uid), static_cast<uint32_t>(c.gid)};
}

}  // namespace overlayd::ipc
