#include "ipc/unix_server.hpp"

#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <chrono>
#include <filesystem>

#include "ipc/codec.hpp"
#include "ipc/engine.hpp"
#include "ipc/framing.hpp"
#include "ipc/peer_cred.hpp"

namespace overlayd::ipc {

// One client connection. Shared by its two threads and by the engine
// callbacks of its in-flight requests, so it lives until the last of them.
struct connection : std::enable_shared_from_this<connection> {
  struct slot {
    uint64_t id = 0;
    bool ready = false;
    std::string frame;  // encoded response frame once ready
  };

  connection(int fd, engine& e, uint64_t n, std::optional<peer_cred> who)
      : fd(fd), eng(e), number(n), peer(who) {}
  ~connection() {
    if (fd >= 0) ::close(fd);
  }

  void start() {
    auto self = shared_from_this();
    reader = std::thread([self] { self->read_loop(); });
    writer = std::thread([self] { self->write_loop(); });
  }

  // Wakes the reader with EOF; the writer still flushes what is answered.
  void shutdown_read() { ::shutdown(fd, SHUT_RD); }
  // Wakes both threads: reads return EOF, writes fail.
  void shutdown() { ::shutdown(fd, SHUT_RDWR); }

  void join() {
    if (reader.joinable()) reader.join();
    if (writer.joinable()) writer.join();
  }

  bool finished() const { return done.load(); }

  // Reserves the next response slot, waiting while max_inflight are pending.
  std::shared_ptr<slot> reserve(uint64_t id) {
    std::unique_lock lock(mu);
    cv.wait(lock, [this] { return queue.size() < unix_server::max_inflight || write_failed; });
    auto s = std::make_shared<slot>();
    s->id = id;
    queue.push_back(s);
    return s;
  }

  void fill(const std::shared_ptr<slot>& s, const response& r) {
    std::string f = encode_response_frame(s->id, r);
    std::lock_guard lock(mu);
    s->frame = std::move(f);
    s->ready = true;
    cv.notify_all();
  }

  void read_loop() {
    for (;;) {
      auto f = read_frame(fd, max_frame_bytes, unix_server::frame_timeout);
      if (!f) {
        if (f.err().code == errc::protocol || f.err().code == errc::timeout)
          spdlog::warn("ipc connection {} ({}): {}; closing it", number, who(), f.err().message);
        break;
      }
      if (!f->has_value()) break;  // clean EOF
      auto in = decode_request_frame(**f);
      if (!in) {
        spdlog::warn("ipc connection {}: ignoring a frame that is not a request: {}", number,
                     in.err().message);
        continue;
      }
      auto s = reserve(in->id);
      if (!in->body) {
        fill(s, resp::err{in->body.err().message});
        continue;
      }
      auto self = shared_from_this();
      if (peer) eng.peers().request(peer->uid);
      eng.call_async(std::move(in->body).value(),
                     [self, s](response r) { self->fill(s, r); }, peer);
    }
    std::lock_guard lock(mu);
    reading = false;
    cv.notify_all();
  }

  void write_loop() {
    for (;;) {
      std::unique_lock lock(mu);
      cv.wait(lock, [this] { return (!queue.empty() && queue.front()->ready) || (!reading && queue.empty()); });
      if (queue.empty()) break;  // reader gone and everything answered
      auto s = queue.front();
      queue.pop_front();
      cv.notify_all();
      lock.unlock();
      if (!write_failed) {
        if (auto w = write_frame(fd, s->frame); !w) {
          spdlog::debug("ipc connection {}: write failed: {}", number, w.err().message);
          std::lock_guard relock(mu);
          write_failed = true;
          shutdown();
          cv.notify_all();
        }
      }
    }
    if (peer) eng.peers().closed(peer->uid);
    done = true;
  }

  std::string who() const {
    if (!peer) return "peer unknown";
    return "pid " + std::to_string(peer->pid) + " uid " + std::to_string(peer->uid);
  }

  int fd;
  engine& eng;
  uint64_t number;
  std::optional<peer_cred> peer;
  std::thread reader, writer;
  std::mutex mu;  // guards queue, reading, write_failed and every slot's fields
  std::condition_variable cv;
  std::deque<std::shared_ptr<slot>> queue;
  bool reading = true;
  bool write_failed = false;
  std::atomic<bool> done{false};
};

namespace {

// A socket file left behind: gone (fine), dead (unlink it), or someone's
// live socket (leave it alone).
status clear_stale_socket(const std::string& path, const sockaddr_un& addr) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (!S_ISSOCK(st.st_mode))
    return error(errc::already_exists, "socket path '" + path + "' exists and is not a socket");
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return system_error("socket", path, errno);
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int e = errno;
  ::close(probe);
  if (rc == 0)
    return error(errc::already_exists, "socket " + path + " answers: another daemon serves on it; not touching it");
  if (e != ECONNREFUSED && e != ENOENT) return system_error("probe socket", path, e);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return system_error("unlink stale socket", path, errno);
  return {};
}

}  // namespace

result<std::unique_ptr<unix_server>> unix_server::start(const std::string& path, engine& eng) {
  auto s = bind(path);
  if (!s) return s;
  (*s)->serve(eng);
  return s;
}

void unix_server::serve(engine& eng) {
  if (engine_) return;
  engine_ = &eng;
  acceptor_ = std::thread([this] { accept_loop(); });
}

result<std::unique_ptr<unix_server>> unix_server::bind(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return error(errc::invalid_argument, "socket path '" + path + "' is empty or longer than " +
                                             std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return system_error("create socket directory", parent.string(), ec.value());
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  // A stale socket from a previous run would make bind fail with EADDRINUSE.
  OVERLAYD_TRY(clear_stale_socket(path, addr));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return system_error("socket", path, errno);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    int e = errno;
    ::close(fd);
    return system_error("bind", path, e);
  }
  ::chmod(path.c_str(), 0660);
  if (const group* g = ::getgrnam("zlayer")) {
    if (::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) < 0)
      spdlog::warn("chgrp zlayer {}: {}", path, std::strerror(errno));
  }
  if (::listen(fd, 128) < 0) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return system_error("listen", path, e);
  }
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    int e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return system_error("eventfd", "", e);
  }
  return std::unique_ptr<unix_server>(new unix_server(path, fd, wake));
}

unix_server::unix_server(std::string path, int listen_fd, int wake_fd)
    : path_(std::move(path)), listen_fd_(listen_fd), wake_fd_(wake_fd) {}

unix_server::~unix_server() { stop(); }

void unix_server::accept_loop() {
  uint64_t count = 0;
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, 1000);
    if (stopping_) return;
    reap(false);
    if (n <= 0 || !(fds[0].revents & POLLIN)) continue;
    int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        spdlog::warn("ipc accept: {}", std::strerror(errno));
      continue;
    }
    const auto peer = peer_cred_of(c);
    std::lock_guard lock(mu_);
    if (conns_.size() >= max_connections) {
      spdlog::warn("ipc: {} connections open; refusing another", conns_.size());
      ::close(c);
      continue;
    }
    if (peer && engine_->peers().open(peer->uid) >= max_connections_per_uid) {
      engine_->peers().refused(peer->uid);
      spdlog::warn("ipc: uid {} has {} connections open; refusing another (pid {})", peer->uid,
                   max_connections_per_uid, peer->pid);
      ::close(c);
      continue;
    }
    if (peer) engine_->peers().connected(peer->uid);
    auto conn = std::make_shared<connection>(c, *engine_, ++count, peer);
    spdlog::debug("ipc connection {} from {}", count, conn->who());
    conns_.push_back(conn);
    conn->start();
  }
}

void unix_server::reap(bool all) {
  std::list<std::shared_ptr<connection>> gone;
  {
    std::lock_guard lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (all || (*it)->finished()) {
        gone.push_back(*it);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (all) {
    // Let writers flush responses already answered (the reply to a `shutdown`
    // request among them), bounded, before cutting the connections.
    for (auto& c : gone) c->shutdown_read();
    for (int i = 0; i < 200; ++i) {
      bool busy = false;
      for (auto& c : gone) busy |= !c->finished();
      if (!busy) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto& c : gone) c->shutdown();
  }
  for (auto& c : gone) c->join();
}

void unix_server::stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(wake_fd_, &one, sizeof one);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
  reap(true);
  ::unlink(path_.c_str());
}

}  // namespace overlayd::ipc
