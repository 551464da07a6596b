// device: lifecycle and the control API. The I/O threads are device_io.cpp.
#include "net/wg/device.hpp"

#include <unordered_map>

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "crypto/keys.hpp"
#include "net/wg/cpu_pin.hpp"
#include "net/wg/device_io.hpp"
#include "net/wg/tun_netlink.hpp"
#include "net/wg/underlay_mtu.hpp"

namespace overlayd::wg {

namespace {

void wake(const unique_fd& fd) {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(fd.get(), &one, sizeof one);
}

}  // namespace

result<std::unique_ptr<device>> device::create(device_options opts) {
  if (opts.mtu == 0 && !opts.configure_link) opts.mtu = default_tun_mtu;
  if (opts.mtu == 0) {
    const auto u = underlay_mtu({});
    opts.mtu = device_mtu_for(u.mtu);
    spdlog::info("{}: MTU {} (underlay {} from the {}, minus {})", opts.name, opts.mtu, u.mtu,
                 u.source, wg_overhead);
  }
  if (opts.mtu < min_device_mtu || opts.mtu > max_device_mtu)
    return error(errc::invalid_argument, "device " + opts.name + ": MTU must be 576..9000");
  auto tun = tun_device::create(opts.name, opts.offload);
  if (!tun) return tun.err();
  if (opts.configure_link)
    OVERLAYD_TRY(configure_tun_link(tun->name(), opts.mtu, opts.addresses));
  auto udp = udp_socket::bind(opts.listen_port, 0, opts.udp_offload);
  if (!udp) return udp.err();
  std::unique_ptr<device> d(
      new device(std::move(*tun), std::make_shared<udp_socket>(std::move(*udp)), opts));
  d->io_->tx_wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  d->io_->rx_wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!d->io_->tx_wake || !d->io_->rx_wake) return system_error("eventfd", opts.name, errno);
  if (opts.private_key) OVERLAYD_TRY(d->set_private_key(*opts.private_key));
  if (!opts.uapi_dir.empty()) {
    auto srv = uapi_server::start(opts.uapi_dir, d->name(), *d);
    if (!srv) return srv.err();
    d->uapi_ = std::move(*srv);
  }
  d->start_threads();
  return d;
}

device::device(tun_device tun, std::shared_ptr<udp_socket> udp, device_options& opts)
    : tun_(std::move(tun)),
      mtu_(opts.mtu),
      configure_link_(opts.configure_link),
      udp_offload_(opts.udp_offload),
      clock_(opts.clk ? *opts.clk : system_clock_),
      cookies_(clock_),
      io_(std::make_unique<impl>(*this)),
      builder_(indices_, clock_) {
  snap_.store(std::make_shared<const snapshot>());
  udp_.store(std::move(udp));
  if (opts.pin_io_threads) io_->cpu_slot = next_cpu_slot();
}

device::~device() {
  uapi_.reset();  // no more control requests from wg
  stop_threads();
  // Peers unregister from indices_ when they die. snap_ is declared before
  // indices_, so left to member destruction it would outlive the table and
  // its peers would write into a destroyed index_table (see peer.hpp's
  // lifetime note). Drop the packet-path snapshot while indices_ is alive.
  snap_.store(nullptr);
}

void device::start_threads() {
  io_->tx_thread = std::thread([this] { io_->run_tx(); });
  io_->rx_thread = std::thread([this] { io_->run_rx(); });
  io_->hs_thread = std::thread([this] { io_->run_handshakes(); });
  io_->timer_thread = std::thread([this] { io_->run_timers(); });
}

void device::stop_threads() {
  io_->stopping.store(true);
  wake(io_->tx_wake);
  wake(io_->rx_wake);
  {
    std::lock_guard lk(io_->hq_mu);
    io_->hq_cv.notify_all();
  }
  {
    std::lock_guard lk(io_->timer_mu);
    io_->timer_cv.notify_all();
  }
  for (auto* t : {&io_->tx_thread, &io_->rx_thread, &io_->hs_thread, &io_->timer_thread})
    if (t->joinable()) t->join();
}

uint16_t device::listen_port() const { return udp_.load()->port(); }

crypto::public_key device::public_key() const {
  auto s = snap_.load();
  return s->identity ? s->identity->public_key : crypto::public_key{};
}

overlayd::status device::apply(const device_update& u) {
  std::lock_guard lk(ctl_mu_);
  return apply_locked(u);
}

overlayd::status device::apply_locked(const device_update& u) {
  // Bind a new socket first (a port in use fails the update before any
  // change), but switch to it only once the rest of the update is valid.
  std::shared_ptr<udp_socket> fresh;
  if (u.listen_port && *u.listen_port != udp_.load()->port()) {
    auto s = udp_socket::bind(*u.listen_port, u.fwmark.value_or(snap_.load()->fwmark), udp_offload_);
    if (!s) return s.err();
    fresh = std::make_shared<udp_socket>(std::move(*s));
  }
  if (u.fwmark && !fresh) OVERLAYD_TRY(udp_.load()->set_fwmark(*u.fwmark));
  apply_effects fx;
  auto next = builder_.apply(*snap_.load(), u, fx);
  if (!next) return next.err();
  if (fx.identity_changed && (*next)->identity) cookies_.set_identity((*next)->identity->public_key);
  snap_.store(std::move(*next));
  if (fresh) switch_socket_locked(std::move(fresh));
  warn_small_paths(u);
  return {};
}

// The MTU is fixed when the device is made (its buffers are sized by it);
// a peer whose route is smaller than that needs fragments or --wg-mtu. Say
// so once per endpoint, naming the MTU that would fit.
void device::warn_small_paths(const device_update& u) {
  if (!configure_link_) return;
  for (const auto& p : u.peers) {
    if (!p.endpoint || p.remove || !warned_paths_.insert(*p.endpoint).second) continue;
    if (warned_paths_.size() > max_peers) warned_paths_.clear();  // bounded
    const auto path = underlay_mtu({p.endpoint->ip()});
    if (path.source.rfind("route to", 0) == 0 && device_mtu_for(path.mtu) < mtu_)
      spdlog::warn("{}: the route to peer endpoint {} has MTU {}; this device's MTU {} exceeds its {} "
                   "(packets will fragment): set the MTU to {} or less",
                   name(), p.endpoint->to_string(), path.mtu, mtu_, device_mtu_for(path.mtu),
                   device_mtu_for(path.mtu));
  }
}

void device::switch_socket_locked(std::shared_ptr<udp_socket> s) {
  udp_.store(std::move(s));
  wake(io_->rx_wake);  // the receive thread picks up the new socket
}

overlayd::status device::set_private_key(const secret_key& sk) {
  device_update u;
  u.private_key = sk;
  return apply(u);
}

result<uint16_t> device::set_listen_port(uint16_t port) {
  std::lock_guard lk(ctl_mu_);
  auto s = udp_socket::bind(port, snap_.load()->fwmark, udp_offload_);
  if (!s) return s.err();
  const uint16_t bound = s->port();
  switch_socket_locked(std::make_shared<udp_socket>(std::move(*s)));
  return bound;
}

overlayd::status device::upsert_peer(const peer_update& p) {
  device_update u;
  u.peers.push_back(p);
  u.peers.back().remove = false;
  return apply(u);
}

overlayd::status device::remove_peer(const crypto::public_key& k) {
  device_update u;
  auto& p = u.peers.emplace_back();
  p.key = k;
  p.remove = true;
  return apply(u);
}

overlayd::status device::add_allowed_ip(const crypto::public_key& k, const net::cidr& c) {
  std::lock_guard lk(ctl_mu_);
  if (!snap_.load()->find(k))
    return error(errc::not_found, "device " + name() + ": no such peer " + crypto::key_to_base64(k.span()));
  device_update u;
  auto& p = u.peers.emplace_back();
  p.key = k;
  p.update_only = true;
  p.allowed_ips.push_back(c);
  return apply_locked(u);
}

overlayd::status device::remove_allowed_ip(const crypto::public_key& k, const net::cidr& c) {
  std::lock_guard lk(ctl_mu_);
  if (!snap_.load()->find(k))
    return error(errc::not_found, "device " + name() + ": no such peer " + crypto::key_to_base64(k.span()));
  device_update u;
  auto& p = u.peers.emplace_back();
  p.key = k;
  p.update_only = true;
  p.remove_allowed_ips.push_back(c);
  return apply_locked(u);
}

overlayd::status device::add_alias(const net::ip_address& ip) {
  std::lock_guard lk(ctl_mu_);
  if (aliases_.count(ip)) return {};
  if (aliases_.size() >= max_alias_addresses)
    return error(errc::exhausted, "device " + name() + ": alias address limit reached");
  OVERLAYD_TRY(add_tun_alias(name(), ip));
  aliases_.insert(ip);
  return {};
}

overlayd::status device::remove_alias(const net::ip_address& ip) {
  std::lock_guard lk(ctl_mu_);
  OVERLAYD_TRY(remove_tun_alias(name(), ip));
  aliases_.erase(ip);
  return {};
}

namespace {

peer_status status_of(const device_peer& p, std::vector<net::cidr> allowed_ips) {
  peer_status st;
  st.key = p.key();
  st.has_preshared_key = !p.preshared_key.is_zero();
  if (st.has_preshared_key) st.preshared_key = p.preshared_key;
  st.endpoint = p.endpoint();
  st.allowed_ips = std::move(allowed_ips);
  st.rx_bytes = p.rx_bytes.load(std::memory_order_relaxed);
  st.tx_bytes = p.tx_bytes.load(std::memory_order_relaxed);
  st.last_handshake = p.proto().last_handshake();
  st.persistent_keepalive = p.persistent_keepalive;
  return st;
}

}  // namespace

device_status device::current_status() const {
  std::lock_guard lk(ctl_mu_);  // peer config fields are written under it
  auto s = snap_.load();
  device_status st;
  if (s->identity) {
    st.private_key = secret_key(s->identity->private_key.span());
    st.own_public_key = s->identity->public_key;
  }
  st.listen_port = udp_.load()->port();
  st.fwmark = s->fwmark;
  // Every peer's prefixes in one walk of the table (a walk per peer made
  // status quadratic in the peer count).
  std::unordered_map<const device_peer*, std::vector<net::cidr>> ips;
  s->routes.for_each([&](const net::cidr& c, device_peer* const& p) { ips[p].push_back(c); });
  st.peers.reserve(s->peers.size());
  for (const auto& p : s->peers) {
    auto it = ips.find(p.get());
    st.peers.push_back(status_of(*p, it == ips.end() ? std::vector<net::cidr>{} : std::move(it->second)));
  }
  return st;
}

std::vector<net::cidr> device::allowed_ips() const {
  auto s = snap_.load();
  std::vector<net::cidr> out;
  out.reserve(s->routes.size());
  s->routes.for_each([&](const net::cidr& c, device_peer* const&) { out.push_back(c); });
  return out;
}

std::optional<crypto::public_key> device::allowed_ip_owner(const net::cidr& c) const {
  auto s = snap_.load();
  auto* p = s->routes.exact(c.normalized());
  if (!p) return std::nullopt;
  return (*p)->key();
}

std::optional<peer_status> device::peer(const crypto::public_key& k) const {
  std::lock_guard lk(ctl_mu_);
  auto s = snap_.load();
  const device_peer* p = s->find(k);
  if (!p) return std::nullopt;
  return status_of(*p, s->routes.list(const_cast<device_peer*>(p)));
}

bool device::check_peer_handshake(const crypto::public_key& k,
                                  std::chrono::system_clock::time_point since) const {
  auto s = snap_.load();
  const device_peer* p = s->find(k);
  if (!p) return false;
  auto last = p->proto().last_handshake();
  return last && *last >= since;
}

device_counters device::counters() const {
  const auto& c = io_->c;
  device_counters r;
  r.rx_malformed = c.rx_malformed.load();
  r.rx_unauthenticated = c.rx_unauthenticated.load();
  r.rx_source_rejected = c.rx_source_rejected.load();
  r.rx_handshake_dropped = c.rx_handshake_dropped.load();
  r.rx_cookie_replies_sent = c.rx_cookie_replies_sent.load();
  r.rx_handshake_rate_limited = c.rx_handshake_rate_limited.load();
  r.rx_foreign = c.rx_foreign.load();
  r.tx_no_route = c.tx_no_route.load();
  r.tx_oversize = c.tx_oversize.load();
  r.tx_no_endpoint = c.tx_no_endpoint.load();
  r.tx_staged_dropped = c.tx_staged_dropped.load();
  r.tx_send_failed = c.tx_send_failed.load();
  r.tun_write_failed = c.tun_write_failed.load();
  r.tun_reads = c.tun_reads.load();
  r.tun_writes = c.tun_writes.load();
  r.tx_packets = c.tx_packets.load();
  r.tx_sendmmsg = c.tx_sendmmsg.load();
  r.rx_packets = c.rx_packets.load();
  r.rx_recvmmsg = c.rx_recvmmsg.load();
  return r;
}

void device::set_foreign_datagram_handler(foreign_datagram_handler h) {
  if (h)
    foreign_.store(std::make_shared<const foreign_datagram_handler>(std::move(h)));
  else
    foreign_.store(nullptr);
}

void device::set_relay_hook(std::shared_ptr<const relay_hook> h) {
  const bool set = h != nullptr;
  if (!set) relay_set_.store(false, std::memory_order_relaxed);
  relay_.store(std::move(h));
  if (set) relay_set_.store(true, std::memory_order_relaxed);
}

overlayd::status device::initiate_handshake(const crypto::public_key& k, std::optional<net::endpoint> to) {
  auto snap = snap_.load();
  device_peer* p = snap->find(k);
  if (!p) return error(errc::not_found, "device " + name() + ": no such peer " + crypto::key_to_base64(k.span()));
  auto msg = p->proto().create_initiation(false, /*probe=*/to.has_value());
  if (!msg) return {};
  if (!to) {
    io_->send_to_peer(*p, msg->bytes());
  } else if (io_->send_to_endpoint(*udp_.load(), msg->bytes(), *to)) {
    p->tx_bytes.fetch_add(msg->bytes().size(), std::memory_order_relaxed);
  }
  return {};
}

overlayd::status device::send_raw(std::span<const uint8_t> data, const net::endpoint& to) {
  return udp_.load()->send_to(data, to);
}

overlayd::status device::send_raw(std::span<const uint8_t> data, const net::endpoint& to, int ttl) {
  auto sock = udp_.load();
  sockaddr_storage ss;
  auto len = sock->to_sockaddr(to, ss);
  if (!len) return len.err();
  iovec iov{const_cast<uint8_t*>(data.data()), data.size()};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_name = &ss;
  m.msg_namelen = *len;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  // A v4 destination (v4-mapped on our dual-stack socket too) takes IP_TTL.
  const bool v4 = to.ip().is_v4();
  c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
  c->cmsg_type = v4 ? IP_TTL : IPV6_HOPLIMIT;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &ttl, sizeof ttl);
  for (;;) {
    if (::sendmsg(sock->fd(), &m, 0) >= 0) return {};
    if (errno != EINTR) return system_error("sendmsg", to.to_string(), errno);
  }
}

}  // namespace overlayd::wg
