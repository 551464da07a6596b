#include "net/dns/server.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "net/dns/forward_table.hpp"
#include "net/dns/rate_limit.hpp"
#include "net/dns/resolver.hpp"
#include "net/dns/socket.hpp"
#include "net/dns/upstream.hpp"

namespace overlayd::net::dns {

namespace {

using clock = std::chrono::steady_clock;

// What the event loop reads through epoll's data pointer. Immutable after
// creation; owned by the server until stop() or, once removed, until the
// loop has finished the batch of events that may still point at it.
struct socket_slot {
  enum class kind { stop, wake, udp, tcp, upstream } k;
  unique_fd fd;
  endpoint bound;       // the address actually bound (port 0 resolved)
  endpoint configured;  // the listen endpoint it serves, as configured
  bool wildcard = false;  // bound to 0.0.0.0/::: replies need PKTINFO
  uint16_t forward_id = 0;  // kind::upstream: the pending forward it carries
};

// The settings a query is answered with, swapped atomically as a whole.
struct runtime {
  resolver_config rc;
  std::vector<endpoint> upstreams;
  std::chrono::milliseconds upstream_timeout{};
  std::vector<cidr> recursion_allow;
};

// Loopback, this host (a query whose source is the address it was sent to),
// or an allowed CIDR.
bool recursion_allowed(const runtime& rt, const ip_address& client, const ip_address& local) {
  if (client.is_loopback() || client == local) return true;
  for (const auto& c : rt.recursion_allow)
    if (c.contains(client)) return true;
  return false;
}

struct atomic_stats {
  std::atomic<uint64_t> udp_queries{0}, tcp_queries{0}, answered{0}, forwarded{0},
      upstream_failures{0}, dropped{0}, tcp_rejected{0}, refused{0}, rate_limited{0}, spoofed{0};
};

// Buffers for one recvmmsg/sendmmsg round (loop thread only; ~140 KiB).
struct udp_batch {
  static constexpr size_t size = 32;
  std::array<std::array<uint8_t, limits::udp_payload_max>, size> bufs;
  std::array<std::vector<uint8_t>, size> replies;
  mmsghdr in[size], out[size];
  iovec in_iov[size], out_iov[size];
  sockaddr_storage from[size];
  alignas(cmsghdr) uint8_t in_ctl[size][pktinfo_space];
  alignas(cmsghdr) uint8_t out_ctl[size][pktinfo_space];
};

struct tcp_client {
  std::thread thread;
  std::atomic<bool> done{false};
};

result<name> domain_name(std::string_view text) {
  auto key = record_key(text);
  if (!key) return error(errc::invalid_argument, "DNS domain: " + key.err().message);
  auto n = name::parse(key->first);
  if (!n || n->wire_size() > 200) return error(errc::invalid_argument, "DNS domain '" + std::string(text) + "' is too long");
  return n;
}

}  // namespace

class server::impl {
 public:
  impl(std::shared_ptr<record_store> store, server_config cfg)
      : store_(store ? std::move(store) : std::make_shared<record_store>()), cfg_(std::move(cfg)) {}

  status start();
  void stop();
  bool running() const {
    std::lock_guard lock(mu_);
    return running_;
  }
  status add_listen(const endpoint& ep);
  status remove_listen(const endpoint& ep);
  status set_listen(std::vector<endpoint> eps);
  status set_domain(std::string_view d);
  status add_domain(std::string_view d);
  status set_upstreams(std::vector<endpoint> ups);
  void set_ttl(std::chrono::seconds ttl);
  status allow_recursion(const cidr& c, bool on);
  std::vector<endpoint> bound_endpoints() const;
  server_stats stats() const;

  std::shared_ptr<record_store> store_;

 private:
  std::vector<std::string> extra_domains_;  // guarded by mu_
  status publish_runtime();  // under mu_
  std::shared_ptr<const runtime> runtime_now() const {
    std::lock_guard lock(rt_mu_);
    return rt_;
  }
  status bind_listen(const endpoint& ep);  // under mu_
  status add_slot(std::unique_ptr<socket_slot> slot);  // under mu_
  void free_retired();  // loop thread, between event batches
  void close_all();  // under mu_, loop joined

  // Event loop (its own thread).
  void loop();
  void on_udp(const socket_slot& s);
  void on_accept(const socket_slot& s);
  void on_upstream(const socket_slot& s);
  void forward_udp(pending_forward p);
  void reply_servfail(const pending_forward& p);
  void expire_forwards();
  // Per-forward upstream sockets ("legs"), keyed by the forward's id.
  bool open_leg(uint16_t id, const endpoint& upstream);
  void close_leg(uint16_t id);
  void close_orphan_legs();
  // Queues reply i of the batch, or its slip, or nothing (rate limit).
  bool limit_allows(const endpoint& client, std::vector<uint8_t>& reply);
  // TCP client threads.
  void serve_tcp(unique_fd fd, tcp_client* self);
  std::vector<uint8_t> answer_tcp(std::span<const uint8_t> query, const ip_address& client,
                                  const ip_address& local);

  // Lock order: lifecycle_mu_, then mu_. stop() joins the loop holding only
  // lifecycle_mu_, because the loop itself takes mu_ (free_retired).
  std::mutex lifecycle_mu_;  // serializes start() and stop()
  mutable std::mutex mu_;    // guards cfg_, slots_, retired_, running_, loop_thread_
  server_config cfg_;
  bool running_ = false;
  std::vector<std::unique_ptr<socket_slot>> slots_;
  unique_fd epoll_;
  std::vector<std::unique_ptr<socket_slot>> retired_;  // removed, not yet freed
  int stop_fd_ = -1;  // slots_[0] while running
  int wake_fd_ = -1;  // slots_[1]: "retired_ has work"
  std::thread loop_thread_;
  mutable std::mutex rt_mu_;  // guards rt_ (the pointer; the runtime is immutable)
  std::shared_ptr<const runtime> rt_;
  atomic_stats stats_;

  // Touched only by the loop thread (and by stop() after joining it).
  forward_table pending_{limits::max_pending_forwards};
  std::unordered_map<uint16_t, std::unique_ptr<socket_slot>> legs_;
  response_limiter rrl_{cfg_.rrl_per_second, cfg_.rrl_burst};
  std::unique_ptr<udp_batch> batch_ = std::make_unique<udp_batch>();
  std::list<tcp_client> tcp_clients_;
};

// ------------------------------------------------------------- control

status server::impl::publish_runtime() {
  auto d = domain_name(cfg_.domain);
  if (!d) return std::move(d).err();
  if (cfg_.upstreams.size() > limits::max_upstreams)
    return error(errc::exhausted, "DNS: more than " + std::to_string(limits::max_upstreams) + " upstreams");
  auto rt = std::make_shared<runtime>();
  rt->rc.domain = std::move(*d);
  for (const auto& extra : extra_domains_) {
    auto n = domain_name(extra);
    if (n && n->key() != rt->rc.domain.key()) rt->rc.aliases.push_back(std::move(*n));
  }
  // RFC 2181 §8: a TTL is 0..2^31-1 seconds.
  rt->rc.ttl = std::clamp(cfg_.ttl, std::chrono::seconds(0), std::chrono::seconds(0x7FFFFFFF));
  rt->rc.recursion_available = !cfg_.upstreams.empty();
  rt->upstreams = cfg_.upstreams;
  rt->upstream_timeout = cfg_.upstream_timeout;
  rt->recursion_allow = cfg_.recursion_allow;
  std::lock_guard lock(rt_mu_);
  rt_ = std::move(rt);
  return {};
}

status server::impl::add_slot(std::unique_ptr<socket_slot> slot) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = slot.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, slot->fd.get(), &ev) != 0)
    return system_error("epoll_ctl add", "DNS socket " + slot->bound.to_string(), errno);
  slots_.push_back(std::move(slot));
  return {};
}

namespace {
// A UDP socket and a TCP listener on the same port. With port 0 the kernel
// picks a free UDP port whose TCP twin may be taken (by any connection's
// local port), so that case retries with another pick.
result<std::pair<unique_fd, unique_fd>> open_pair(const endpoint& ep) {
  for (int attempt = 0;; ++attempt) {
    auto udp = open_udp(ep);
    if (!udp) return std::move(udp).err();
    auto bound = local_endpoint(udp->get());
    if (!bound) return std::move(bound).err();
    auto tcp = open_tcp_listener(*bound);
    if (tcp) return std::pair{std::move(*udp), std::move(*tcp)};
    if (ep.port() != 0 || tcp.err().sys_errno != EADDRINUSE || attempt == 16) return std::move(tcp).err();
  }
}
}  // namespace

status server::impl::bind_listen(const endpoint& ep) {
  auto fds = open_pair(ep);
  if (!fds) return std::move(fds).err();
  auto& [udp, tcp] = *fds;
  auto bound = local_endpoint(udp.get());
  if (!bound) return std::move(bound).err();
  bool wildcard = ep.ip().is_unspecified();
  if (wildcard) OVERLAYD_TRY(enable_pktinfo(udp.get(), ep.ip().fam()));
  OVERLAYD_TRY(add_slot(std::make_unique<socket_slot>(
      socket_slot{socket_slot::kind::udp, std::move(udp), *bound, ep, wildcard})));
  auto s = add_slot(std::make_unique<socket_slot>(
      socket_slot{socket_slot::kind::tcp, std::move(tcp), *bound, ep, wildcard}));
  if (!s) {  // all or nothing: take the UDP half back out
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, slots_.back()->fd.get(), nullptr);
    slots_.pop_back();
  }
  return s;
}

status server::impl::start() {
  std::lock_guard life(lifecycle_mu_);
  std::lock_guard lock(mu_);
  if (running_) return {};
  OVERLAYD_TRY(publish_runtime());
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return system_error("epoll_create1", "DNS server", errno);
  auto fail = [this](error e) -> status {
    close_all();
    return e;
  };
  for (auto k : {socket_slot::kind::stop, socket_slot::kind::wake}) {
    auto ev = open_stop_event();
    if (!ev) return fail(std::move(ev).err());
    (k == socket_slot::kind::stop ? stop_fd_ : wake_fd_) = ev->get();
    if (auto s = add_slot(std::make_unique<socket_slot>(socket_slot{k, std::move(*ev), {}, {}, false})); !s)
      return fail(std::move(s).err());
  }
  for (const auto& ep : cfg_.listen)
    if (auto s = bind_listen(ep); !s) return fail(std::move(s).err());
  loop_thread_ = std::thread([this] { loop(); });
  running_ = true;
  return {};
}

void server::impl::close_all() {
  for (auto& c : tcp_clients_) c.thread.join();
  tcp_clients_.clear();
  pending_ = forward_table(limits::max_pending_forwards);
  legs_.clear();
  slots_.clear();
  retired_.clear();
  epoll_.reset();
  stop_fd_ = wake_fd_ = -1;
}

void server::impl::stop() {
  std::lock_guard life(lifecycle_mu_);
  std::thread loop;
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    signal_stop(stop_fd_);  // stays readable: wakes the loop and every TCP thread
    loop = std::move(loop_thread_);
  }
  loop.join();
  std::lock_guard lock(mu_);
  close_all();
  running_ = false;
}

status server::impl::add_listen(const endpoint& ep) {
  std::lock_guard lock(mu_);
  for (const auto& e : cfg_.listen)
    if (e == ep) return {};
  if (cfg_.listen.size() >= limits::max_listen_endpoints)
    return error(errc::exhausted, "DNS: more than " + std::to_string(limits::max_listen_endpoints) + " listen endpoints");
  if (running_) OVERLAYD_TRY(bind_listen(ep));
  cfg_.listen.push_back(ep);
  return {};
}

// The sockets leave epoll now; the loop frees them after its current batch
// of events (which may still point at them) and forgets forwards that would
// have answered through them.
status server::impl::remove_listen(const endpoint& ep) {
  std::lock_guard lock(mu_);
  auto it = std::find(cfg_.listen.begin(), cfg_.listen.end(), ep);
  if (it == cfg_.listen.end()) return error(errc::not_found, "DNS: not listening on " + ep.to_string());
  cfg_.listen.erase(it);
  if (!running_) return {};
  for (auto s = slots_.begin(); s != slots_.end();) {
    bool listener = (*s)->k == socket_slot::kind::udp || (*s)->k == socket_slot::kind::tcp;
    if (listener && (*s)->configured == ep) {
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, (*s)->fd.get(), nullptr);
      retired_.push_back(std::move(*s));
      s = slots_.erase(s);
    } else {
      ++s;
    }
  }
  signal_stop(wake_fd_);
  return {};
}

void server::impl::free_retired() {
  uint64_t n;
  [[maybe_unused]] auto r = ::read(wake_fd_, &n, sizeof n);  // re-arm the wake event
  std::vector<std::unique_ptr<socket_slot>> gone;
  {
    std::lock_guard lock(mu_);
    gone.swap(retired_);
  }
  for (const auto& s : gone)
    if (s->k == socket_slot::kind::udp) pending_.drop_listener(s->fd.get());
  close_orphan_legs();
}

status server::impl::set_listen(std::vector<endpoint> eps) {
  std::lock_guard lock(mu_);
  if (running_) return error(errc::precondition, "DNS: stop the server before replacing its listen endpoints");
  if (eps.size() > limits::max_listen_endpoints)
    return error(errc::exhausted, "DNS: more than " + std::to_string(limits::max_listen_endpoints) + " listen endpoints");
  cfg_.listen = std::move(eps);
  return {};
}

status server::impl::set_domain(std::string_view d) {
  std::lock_guard lock(mu_);
  auto n = domain_name(d);
  if (!n) return std::move(n).err();
  cfg_.domain = std::string(d);
  return publish_runtime();
}

status server::impl::add_domain(std::string_view d) {
  std::lock_guard lock(mu_);
  auto n = domain_name(d);
  if (!n) return std::move(n).err();
  if (std::find(extra_domains_.begin(), extra_domains_.end(), d) != extra_domains_.end()) return {};
  if (extra_domains_.size() >= limits::max_extra_domains)
    return error(errc::exhausted, "DNS: more than " + std::to_string(limits::max_extra_domains) + " domains in use");
  extra_domains_.emplace_back(d);
  return publish_runtime();
}

status server::impl::set_upstreams(std::vector<endpoint> ups) {
  std::lock_guard lock(mu_);
  auto old = std::move(cfg_.upstreams);
  cfg_.upstreams = std::move(ups);
  if (auto s = publish_runtime(); !s) {
    cfg_.upstreams = std::move(old);
    return s;
  }
  return {};
}

status server::impl::allow_recursion(const cidr& c, bool on) {
  std::lock_guard lock(mu_);
  auto& v = cfg_.recursion_allow;
  const cidr n = c.normalized();
  auto it = std::find(v.begin(), v.end(), n);
  if (on && it == v.end()) {
    if (v.size() >= limits::max_recursion_allow)
      return error(errc::exhausted, "DNS: more than " + std::to_string(limits::max_recursion_allow) +
                                        " CIDRs allowed recursion");
    v.push_back(n);
  } else if (!on && it != v.end()) {
    v.erase(it);
  }
  return publish_runtime();
}

void server::impl::set_ttl(std::chrono::seconds ttl) {
  std::lock_guard lock(mu_);
  cfg_.ttl = ttl;
  (void)publish_runtime();  // the domain was validated when set
}

std::vector<endpoint> server::impl::bound_endpoints() const {
  std::lock_guard lock(mu_);
  std::vector<endpoint> out;
  for (const auto& s : slots_)
    if (s->k == socket_slot::kind::udp) out.push_back(s->bound);
  return out;
}

server_stats server::impl::stats() const {
  server_stats s;
  s.udp_queries = stats_.udp_queries;
  s.refused = stats_.refused;
  s.rate_limited = stats_.rate_limited;
  s.spoofed = stats_.spoofed;
  s.tcp_queries = stats_.tcp_queries;
  s.answered = stats_.answered;
  s.forwarded = stats_.forwarded;
  s.upstream_failures = stats_.upstream_failures;
  s.dropped = stats_.dropped;
  s.tcp_rejected = stats_.tcp_rejected;
  return s;
}

// ------------------------------------------------------------- event loop

void server::impl::loop() {
  epoll_event events[64];
  for (bool wake = false;; wake = false) {
    int timeout_ms = -1;
    if (auto next = pending_.next_deadline()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - clock::now()).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(left, 0, 60000));
    }
    int n = ::epoll_wait(epoll_.get(), events, 64, timeout_ms);
    if (n < 0 && errno != EINTR) return;
    for (int i = 0; i < n; ++i) {
      const auto& s = *static_cast<const socket_slot*>(events[i].data.ptr);
      switch (s.k) {
        case socket_slot::kind::stop: return;
        case socket_slot::kind::wake: wake = true; break;
        case socket_slot::kind::udp: on_udp(s); break;
        case socket_slot::kind::tcp: on_accept(s); break;
        case socket_slot::kind::upstream: on_upstream(s); break;
      }
    }
    if (wake) free_retired();  // after the batch: no event points at them any more
    expire_forwards();
  }
}

// recvmmsg/sendmmsg: one syscall each way per batch of up to udp_batch::size
// queries; bounded rounds per wake-up so one busy socket cannot starve others.
void server::impl::on_udp(const socket_slot& s) {
  auto& b = *batch_;
  for (int round = 0; round < 4; ++round) {
    for (size_t i = 0; i < udp_batch::size; ++i) {
      b.in_iov[i] = {b.bufs[i].data(), b.bufs[i].size()};
      b.in[i] = {};
      b.in[i].msg_hdr.msg_iov = &b.in_iov[i];
      b.in[i].msg_hdr.msg_iovlen = 1;
      b.in[i].msg_hdr.msg_name = &b.from[i];
      b.in[i].msg_hdr.msg_namelen = sizeof b.from[i];
      if (s.wildcard) {
        b.in[i].msg_hdr.msg_control = b.in_ctl[i];
        b.in[i].msg_hdr.msg_controllen = pktinfo_space;
      }
    }
    int n = ::recvmmsg(s.fd.get(), b.in, udp_batch::size, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    stats_.udp_queries += static_cast<uint64_t>(n);
    auto rt = runtime_now();
    auto records = store_->snapshot();
    unsigned out = 0;
    for (int i = 0; i < n; ++i) {
      auto d = resolve(std::span(b.bufs[i].data(), b.in[i].msg_len), *records, rt->rc, transport::udp);
      local_dst local = s.wildcard ? read_pktinfo(b.in[i].msg_hdr) : local_dst{};
      const auto client = endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&b.from[i]));
      if (d.act == decision::action::forward &&
          !recursion_allowed(*rt, client.ip(), s.wildcard ? local.addr : s.bound.ip())) {
        ++stats_.refused;
        d.act = decision::action::reply;
        d.reply = error_reply(d.query, rcode::refused, rt->rc);
      }
      if (d.act == decision::action::reply) {
        if (!limit_allows(client, d.reply)) continue;
        b.replies[out] = std::move(d.reply);
        b.out_iov[out] = {b.replies[out].data(), b.replies[out].size()};
        b.out[out] = {};
        b.out[out].msg_hdr.msg_iov = &b.out_iov[out];
        b.out[out].msg_hdr.msg_iovlen = 1;
        b.out[out].msg_hdr.msg_name = &b.from[i];
        b.out[out].msg_hdr.msg_namelen = b.in[i].msg_hdr.msg_namelen;
        if (size_t clen = write_pktinfo(local, b.out_ctl[out])) {
          b.out[out].msg_hdr.msg_control = b.out_ctl[out];
          b.out[out].msg_hdr.msg_controllen = clen;
        }
        ++out;
      } else if (d.act == decision::action::forward) {
        forward_udp(pending_forward{std::move(d.query), client, s.fd.get(), local, d.max_reply, 0, {}, {}});
      } else {
        ++stats_.dropped;
      }
    }
    stats_.answered += out;
    // A full socket buffer drops the rest, as a router would: clients retry.
    for (unsigned sent = 0; sent < out;) {
      int m = ::sendmmsg(s.fd.get(), b.out + sent, out - sent, MSG_DONTWAIT);
      if (m <= 0) break;
      sent += static_cast<unsigned>(m);
    }
    if (static_cast<size_t>(n) < udp_batch::size) return;
  }
}

bool server::impl::limit_allows(const endpoint& client, std::vector<uint8_t>& reply) {
  switch (rrl_.check(client.ip(), clock::now())) {
    case response_limiter::verdict::send: return true;
    case response_limiter::verdict::slip:
      // The header alone, TC set, counts zero: a real client retries over TCP.
      if (reply.size() >= header_size) {
        reply.resize(header_size);
        reply[2] |= 0x02;
        std::fill(reply.begin() + 4, reply.end(), 0);
      }
      ++stats_.rate_limited;
      return true;
    case response_limiter::verdict::drop: break;
  }
  ++stats_.rate_limited;
  return false;
}

// A socket of its own for one forwarded query: connected to the upstream, so
// the kernel picks a fresh random source port and delivers only datagrams
// from exactly that address and port.
bool server::impl::open_leg(uint16_t id, const endpoint& upstream) {
  unique_fd fd(::socket(upstream.ip().is_v4() ? AF_INET : AF_INET6,
                        SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_storage ss{};
  socklen_t len = upstream.to_sockaddr(ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return false;
  auto slot = std::make_unique<socket_slot>(
      socket_slot{socket_slot::kind::upstream, std::move(fd), upstream, {}, false, id});
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = slot.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, slot->fd.get(), &ev) != 0) return false;
  legs_[id] = std::move(slot);
  return true;
}

void server::impl::close_leg(uint16_t id) {
  auto it = legs_.find(id);
  if (it == legs_.end()) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd.get(), nullptr);
  legs_.erase(it);
}

void server::impl::close_orphan_legs() {
  std::vector<uint16_t> orphans;
  for (const auto& [id, slot] : legs_)
    if (!pending_.find(id)) orphans.push_back(id);
  for (auto id : orphans) close_leg(id);
}

// Sends the query to upstream p.upstream (then the next ones if sending
// fails); SERVFAIL when none is left or the pending table is full.
void server::impl::forward_udp(pending_forward p) {
  auto rt = runtime_now();
  while (p.upstream < rt->upstreams.size()) {
    p.upstream_addr = rt->upstreams[p.upstream];
    p.deadline = clock::now() + rt->upstream_timeout;
    if (pending_.size() >= limits::max_pending_forwards) break;  // full: SERVFAIL now
    message m = p.query;
    // Our upstream socket reads at most udp_payload_max octets.
    if (m.opt) m.opt->udp_payload = std::min<uint16_t>(m.opt->udp_payload, limits::udp_payload_max);
    auto id = pending_.insert(std::move(p));
    if (!id) return;  // unreachable: the size was checked above
    m.hdr.id = *id;
    auto wire = serialize(m);
    if (open_leg(*id, pending_.find(*id)->upstream_addr) &&
        ::send(legs_[*id]->fd.get(), wire.data(), wire.size(), MSG_DONTWAIT) >= 0) {
      ++stats_.forwarded;
      return;
    }
    close_leg(*id);
    p = *pending_.take(*id);
    ++p.upstream;
  }
  reply_servfail(p);
}

void server::impl::reply_servfail(const pending_forward& p) {
  ++stats_.upstream_failures;
  if (p.listen_fd < 0) return;
  send_datagram(p.listen_fd, error_reply(p.query, rcode::servfail, runtime_now()->rc), p.client, p.local);
}

void server::impl::on_upstream(const socket_slot& s) {
  const uint16_t id = s.forward_id;
  uint8_t buf[limits::udp_payload_max];
  for (int i = 0; i < 64; ++i) {
    // Connected: the kernel delivers only what came from the upstream's
    // address and port. ICMP errors (ECONNREFUSED) are left to the timeout.
    ssize_t n = ::recv(s.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      continue;
    }
    auto wire = std::span<const uint8_t>(buf, static_cast<size_t>(n));
    auto h = parse_header(wire);
    const pending_forward* p = pending_.find(id);
    if (!p) break;
    // The random id and the question must match too.
    auto out = h && h->id == id ? relay_reply(wire, p->query, p->max_reply) : std::vector<uint8_t>{};
    if (out.empty()) {
      ++stats_.spoofed;
      continue;
    }
    if (!limit_allows(p->client, out)) {
      (void)pending_.take(id);
      break;
    }
    send_datagram(p->listen_fd, out, p->client, p->local);
    (void)pending_.take(id);
    break;
  }
  if (!pending_.find(id)) close_leg(id);  // last: `s` is gone after this
}

void server::impl::expire_forwards() {
  for (auto& p : pending_.take_expired(clock::now())) {
    ++p.upstream;  // this one timed out: try the next, or SERVFAIL
    forward_udp(std::move(p));
  }
  close_orphan_legs();
}

// ------------------------------------------------------------- TCP

void server::impl::on_accept(const socket_slot& s) {
  for (int i = 0; i < 16; ++i) {
    unique_fd fd(::accept4(s.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    for (auto it = tcp_clients_.begin(); it != tcp_clients_.end();) {  // reap finished
      if (it->done) {
        it->thread.join();
        it = tcp_clients_.erase(it);
      } else {
        ++it;
      }
    }
    if (tcp_clients_.size() >= limits::max_tcp_connections) {
      ++stats_.tcp_rejected;
      continue;  // closing it tells the client to go elsewhere
    }
    auto& c = tcp_clients_.emplace_back();
    c.thread = std::thread([this, f = std::move(fd), &c]() mutable { serve_tcp(std::move(f), &c); });
  }
}

std::vector<uint8_t> server::impl::answer_tcp(std::span<const uint8_t> query, const ip_address& client,
                                              const ip_address& local) {
  ++stats_.tcp_queries;
  auto rt = runtime_now();
  auto d = resolve(query, *store_->snapshot(), rt->rc, transport::tcp);
  if (d.act == decision::action::reply) {
    ++stats_.answered;
    return std::move(d.reply);
  }
  if (d.act == decision::action::drop) {
    ++stats_.dropped;
    return {};
  }
  if (!recursion_allowed(*rt, client, local)) {
    ++stats_.refused;
    return error_reply(d.query, rcode::refused, rt->rc);
  }
  ++stats_.forwarded;
  auto r = exchange_with_upstreams(d.query, rt->upstreams, rt->upstream_timeout, d.max_reply, stop_fd_);
  if (r) return std::move(*r);
  ++stats_.upstream_failures;
  return error_reply(d.query, rcode::servfail, rt->rc);
}

// RFC 7766 §6.2: several queries per connection, answered in order; the
// connection closes when idle for tcp_idle_timeout, on EOF or on error.
void server::impl::serve_tcp(unique_fd fd, tcp_client* self) {
  sockaddr_storage peer{};
  socklen_t plen = sizeof peer;
  ip_address client, local;
  if (::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &plen) == 0)
    client = endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&peer)).ip();
  if (auto l = local_endpoint(fd.get())) local = l->ip();
  for (;;) {
    auto msg = read_framed(fd.get(), stop_fd_, clock::now() + limits::tcp_idle_timeout);
    if (!msg || msg->empty()) break;
    auto reply = answer_tcp(*msg, client, local);
    if (reply.empty()) continue;
    if (!write_framed(fd.get(), reply, stop_fd_, clock::now() + limits::tcp_idle_timeout)) break;
  }
  self->done = true;
}

// ------------------------------------------------------------- facade

server::server(std::shared_ptr<record_store> store, server_config cfg)
    : impl_(std::make_unique<impl>(std::move(store), std::move(cfg))) {}
server::~server() { impl_->stop(); }
status server::start() { return impl_->start(); }
void server::stop() { impl_->stop(); }
bool server::running() const { return impl_->running(); }
status server::add_listen(const endpoint& ep) { return impl_->add_listen(ep); }
status server::remove_listen(const endpoint& ep) { return impl_->remove_listen(ep); }
status server::set_listen(std::vector<endpoint> eps) { return impl_->set_listen(std::move(eps)); }
status server::set_domain(std::string_view d) { return impl_->set_domain(d); }
status server::add_domain(std::string_view d) { return impl_->add_domain(d); }
status server::set_upstreams(std::vector<endpoint> ups) { return impl_->set_upstreams(std::move(ups)); }
void server::set_ttl(std::chrono::seconds ttl) { impl_->set_ttl(ttl); }
status server::allow_recursion(const cidr& c, bool on) { return impl_->allow_recursion(c, on); }
std::vector<endpoint> server::bound_endpoints() const { return impl_->bound_endpoints(); }
server_stats server::stats() const { return impl_->stats(); }
const std::shared_ptr<record_store>& server::store() const noexcept { return impl_->store_; }

}  // namespace overlayd::net::dns
