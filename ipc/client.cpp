#include "ipc/client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "ipc/codec.hpp"
#include "ipc/framing.hpp"

namespace overlayd::ipc {

result<std::unique_ptr<client>> client::connect(const std::string& path,
                                                std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return error(errc::invalid_argument, "socket path '" + path + "' is too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return system_error("socket", path, errno);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      return std::unique_ptr<client>(new client(fd));
    const int e = errno;
    ::close(fd);
    const bool retry = e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EINTR;
    if (!retry || std::chrono::steady_clock::now() + backoff > deadline)
      return system_error("connect", path, e);
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

client::~client() { ::close(fd_); }

result<uint64_t> client::send(const request& r) {
  const uint64_t id = next_id_++;
  OVERLAYD_TRY(write_frame(fd_, encode_request_frame(id, r)));
  return id;
}

status client::send_raw(const std::string& payload) { return write_frame(fd_, payload); }

result<std::pair<uint64_t, response>> client::receive() {
  for (;;) {
    auto f = read_frame(fd_);
    if (!f) return std::move(f).err();
    if (!f->has_value()) return error(errc::protocol, "overlayd closed the connection");
    auto fr = decode_frame(**f);
    if (!fr) return error(errc::protocol, "bad frame from overlayd: " + fr.err().message);
    if (auto* ev = std::get_if<event_frame>(&*fr)) {
      if (on_event_) on_event_(ev->body);
      continue;
    }
    auto* rf = std::get_if<response_frame>(&*fr);
    if (!rf) return error(errc::protocol, "overlayd sent a request frame to a client");
    return std::make_pair(rf->id, std::move(rf->body));
  }
}

result<response> client::call(const request& r) {
  auto id = send(r);
  if (!id) return std::move(id).err();
  auto got = receive();
  if (!got) return std::move(got).err();
  if (got->first != *id)
    return error(errc::protocol, "response id " + std::to_string(got->first) +
                                     " does not match request id " + std::to_string(*id));
  return std::move(got->second);
}

}  // namespace overlayd::ipc
