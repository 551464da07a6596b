#include "net/wg/uapi_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace overlayd::wg {

namespace {

// A client that sends nothing for this long is dropped, so a stuck `wg`
// cannot block the next one.
constexpr int client_idle_ms = 5000;

result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path)
    return error(errc::invalid_argument, "uapi socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// True if something accepts connections on `a` (a live device of that name).
bool someone_listens(const sockaddr_un& a) {
  unique_fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

result<std::unique_ptr<uapi_server>> uapi_server::start(std::string_view dir,
                                                        std::string_view iface,
                                                        uapi_handler& h) {
  std::string d(dir);
  if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST)
    return system_error("mkdir", d, errno);
  std::string path = d + "/" + std::string(iface) + ".sock";
  auto addr = unix_address(path);
  if (!addr) return addr.err();
  if (someone_listens(*addr))
    return error(errc::already_exists, "a device already serves UAPI on " + path);
  ::unlink(path.c_str());  // stale socket of a dead process

  unique_fd l(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l) return system_error("socket", path, errno);
  if (::bind(l.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0)
    return system_error("bind", path, errno);
  // Mode 0600 before listen(): nobody can connect until then.
  if (::chmod(path.c_str(), 0600) != 0 || ::listen(l.get(), 16) != 0) {
    int e = errno;
    ::unlink(path.c_str());
    return system_error("listen", path, e);
  }
  unique_fd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) {
    int e = errno;
    ::unlink(path.c_str());
    return system_error("eventfd", path, e);
  }
  std::unique_ptr<uapi_server> s(new uapi_server(std::move(path), std::move(l), std::move(stop), h));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

uapi_server::uapi_server(std::string path, unique_fd listen_fd, unique_fd stop_fd, uapi_handler& h)
    : path_(std::move(path)), listen_(std::move(listen_fd)), stop_(std::move(stop_fd)), h_(h) {}

uapi_server::~uapi_server() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::unlink(path_.c_str());
}

void uapi_server::run() {
  for (;;) {
    pollfd p[2] = {{listen_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    if (!(p[0].revents & POLLIN)) continue;
    unique_fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (c) serve_client(c.get());
  }
}

void uapi_server::serve_client(int fd) {
  uapi_session session(h_);
  timeval send_timeout{client_idle_ms / 1000, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  char buf[4096];
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    int r = ::poll(p, 2, client_idle_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || p[1].revents) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EOF: wg closed after its request
    std::string out;
    bool keep = session.feed(std::string_view(buf, static_cast<size_t>(n)), out);
    crypto::wipe(buf, sizeof buf);
    bool sent = out.empty() || write_all(fd, out);
    crypto::wipe(out.data(), out.size());
    if (!keep || !sent) return;
  }
}

}  // namespace overlayd::wg
