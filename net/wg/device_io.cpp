// The device's I/O threads: tun->udp (encrypt), udp->tun (decrypt), the
// handshake worker and the timer tick. See device.hpp for the picture.
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "net/wg/cpu_pin.hpp"
#include "net/wg/device_io.hpp"
#include "net/wg/messages.hpp"
#include "net/wg/noise.hpp"
#include "net/wg/offload.hpp"

namespace overlayd::wg {

namespace {

constexpr size_t tx_slot_extra = transport_header_size + transport_padding + aead_tag_size;

uint16_t load_be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

// The destination of an IP packet read from the TUN (nullopt if it is not a
// plausible IPv4/IPv6 packet).
std::optional<net::ip_address> destination_of(const uint8_t* pkt, size_t len) {
  if (len >= 20 && pkt[0] >> 4 == 4) return net::ip_address::v4({pkt[16], pkt[17], pkt[18], pkt[19]});
  if (len >= 40 && pkt[0] >> 4 == 6) {
    std::array<uint8_t, 16> a;
    std::memcpy(a.data(), pkt + 24, 16);
    return net::ip_address::v6(a);
  }
  return std::nullopt;
}

// A decrypted packet's real length (the IP total length, padding removed)
// and its source; nullopt if the header does not fit the plaintext.
struct inner_packet {
  size_t len;
  net::ip_address src;
};
std::optional<inner_packet> parse_inner(const uint8_t* pkt, size_t len) {
  if (len >= 20 && pkt[0] >> 4 == 4) {
    size_t total = load_be16(pkt + 2);
    if (total < 20 || total > len) return std::nullopt;
    return inner_packet{total, net::ip_address::v4({pkt[12], pkt[13], pkt[14], pkt[15]})};
  }
  if (len >= 40 && pkt[0] >> 4 == 6) {
    size_t total = 40 + size_t{load_be16(pkt + 4)};
    if (total > len) return std::nullopt;
    std::array<uint8_t, 16> a;
    std::memcpy(a.data(), pkt + 8, 16);
    return inner_packet{total, net::ip_address::v6(a)};
  }
  return std::nullopt;
}

// WireGuard messages start with a type byte 1..4 and three zero bytes;
// anything else on our port (STUN, relay frames) is someone else's.
bool looks_like_wireguard(const uint8_t* b, size_t len) {
  return len >= 4 && b[0] >= 1 && b[0] <= 4 && b[1] == 0 && b[2] == 0 && b[3] == 0;
}

void drain(int eventfd) {
  uint64_t v;
  [[maybe_unused]] ssize_t n = ::read(eventfd, &v, sizeof v);
}

constexpr std::chrono::milliseconds error_backoff{200};

// Sleeps up to `d`, returning early when the wake eventfd fires (it is left
// readable so the caller's loop sees it).
void wait_or_stop(int wake_fd, std::chrono::milliseconds d) {
  pollfd p{wake_fd, POLLIN, 0};
  ::poll(&p, 1, static_cast<int>(d.count()));
}

}  // namespace

// ---------------------------------------------------------------- tun -> udp

// One batch read from the TUN: encrypt each packet for the peer its
// destination routes to and send them all with sendmmsg. Consecutive packets
// to the same peer share one keypair lookup and one timer update.
class tx_batch {
 public:
  tx_batch(device::impl& io, uint32_t mtu, bool vnet)
      : io_(io),
        mtu_(mtu),
        slot_(mtu + tx_slot_extra),
        bufs_(slot_ * tx_slots),
        lens_(tx_slots),
        super_(vnet ? vnet_hdr_size + max_offload_packet : 0) {}

  // Reads packets until the TUN is empty or a batch is full; returns how
  // many IP packets (TSO super-packets count as their segments).
  size_t read(const tun_device& tun) {
    n_ = 0;
    failed_ = false;
    while (n_ < udp_batch_capacity) {
      if (!super_.empty() ? !read_offloaded(tun) : !read_plain(tun)) break;
    }
    return n_;
  }
  // The last read() failed (not EAGAIN): the TUN is gone or broken.
  bool failed() const noexcept { return failed_; }

  void encrypt_and_send(const snapshot& s, const udp_socket& udp, time_point now) {
    out_.set_gso(udp.gso());
    for (size_t i = 0; i < n_; ++i) encrypt_one(s, udp, i, now);
    finish_group();
    if (!out_.empty()) flush_out(udp);
  }

 private:
  // A 64 KiB super-packet of MSS-536 segments is 122 packets; reads stop at
  // udp_batch_capacity, so this many slots hold any batch down to that MSS
  // (a smaller MSS overflows: that super-packet is dropped and counted).
  static constexpr size_t tx_slots = udp_batch_capacity + 128;

  uint8_t* slot(size_t i) { return bufs_.data() + i * slot_; }

  bool read_plain(const tun_device& tun) {
    uint8_t* pkt = slot(n_) + transport_header_size;
    auto r = tun.read({pkt, size_t{mtu_} + 1});
    if (!r) failed_ = true;
    if (!r || *r == 0) return false;
    io_.bump(io_.c.tun_reads);
    if (*r > mtu_)  // cannot happen with a sane kernel; never trust it
      io_.bump(io_.c.tx_oversize);
    else
      lens_[n_++] = *r;
    return true;
  }

  bool read_offloaded(const tun_device& tun) {
    auto r = tun.read(super_);
    if (!r) failed_ = true;
    if (!r || *r == 0) return false;
    io_.bump(io_.c.tun_reads);
    if (*r < vnet_hdr_size) {
      io_.bump(io_.c.tx_oversize);
      return true;
    }
    const vnet_hdr h = vnet_hdr::read(super_.data());
    const std::span<uint8_t> pkt(super_.data() + vnet_hdr_size, *r - vnet_hdr_size);
    int got = split_offload_packet(h, pkt, mtu_, [this](size_t len) -> uint8_t* {
      if (n_ >= tx_slots) return nullptr;
      lens_[n_] = len;
      return slot(n_++) + transport_header_size;
    });
    if (got < 0) io_.bump(io_.c.tx_oversize);
    return true;
  }

  void add_out(const udp_socket& udp, uint8_t* buf, size_t wire) {
    if (relay_) {
      if (io_.send_to_endpoint(udp, {buf, wire}, relay_to_)) io_.bump(io_.c.tx_packets);
      else io_.bump(io_.c.tx_send_failed);
      return;
    }
    if (out_.full()) flush_out(udp);
    out_.add(buf, wire, dst_, dst_len_);
  }

  void flush_out(const udp_socket& udp) {
    io_.c.tx_packets.fetch_add(out_.size(), std::memory_order_relaxed);
    io_.bump(io_.c.tx_sendmmsg);
    size_t failed = out_.flush(udp.fd());
    if (failed) io_.c.tx_send_failed.fetch_add(failed, std::memory_order_relaxed);
    if (out_.take_gso_failed() && udp.disable_gso())
      spdlog::warn("{}: UDP GSO send failed with EIO (the egress device cannot segment); "
                   "GSO is off for port {} from now on",
                   io_.dev.name(), udp.port());
  }

  void start_group(device_peer* p, const udp_socket& udp) {
    finish_group();
    cur_ = p;
    kp_ = p->proto().send_keypair();
    auto ep = p->endpoint();
    have_ep_ = false;
    relay_.reset();
    if (ep) {
      // A relayed peer: its packets are framed one by one for the relay.
      if (auto h = io_.relay(); h && h->relays(*ep)) {
        relay_ = std::move(h);
        relay_to_ = *ep;
        have_ep_ = true;
        return;
      }
      auto len = udp.to_sockaddr(*ep, dst_);
      if (len) {
        dst_len_ = *len;
        have_ep_ = true;
      }
    }
  }

  void finish_group() {
    if (!cur_) return;
    if (kp_ && sent_in_group_) {
      auto r = cur_->proto().note_sent(*kp_, true);
      if (r.initiation) io_.send_to_peer(*cur_, r.initiation->bytes());
    }
    cur_->tx_bytes.fetch_add(bytes_in_group_, std::memory_order_relaxed);
    cur_ = nullptr;
    kp_.reset();
    sent_in_group_ = false;
    bytes_in_group_ = 0;
  }

  void encrypt_one(const snapshot& s, const udp_socket& udp, size_t i, time_point now) {
    uint8_t* buf = slot(i);
    uint8_t* pkt = buf + transport_header_size;
    const size_t len = lens_[i];
    auto dst = destination_of(pkt, len);
    device_peer* const* pp = dst ? s.routes.lookup(*dst) : nullptr;
    if (!pp) {
      io_.bump(io_.c.tx_no_route);
      return;
    }
    if (*pp != cur_) start_group(*pp, udp);
    if (!have_ep_) {
      io_.bump(io_.c.tx_no_endpoint);
      return;
    }
    const size_t pad = padding_for(len, mtu_);
    std::memset(pkt + len, 0, pad);
    const std::span<uint8_t> whole(buf, slot_);
    size_t wire = kp_ ? kp_->encrypt(whole, len + pad, now) : 0;
    if (wire) {
      sent_in_group_ = true;
    } else {
      // No usable session: the protocol stages the decision (handshake now
      // or later); we keep the packet until a session exists. Packets
      // already sent on the old keypair still count for its timers.
      if (kp_ && sent_in_group_) {
        auto r = cur_->proto().note_sent(*kp_, true);
        if (r.initiation) io_.send_to_peer(*cur_, r.initiation->bytes());
      }
      kp_.reset();
      sent_in_group_ = false;
      auto r = cur_->proto().encrypt(whole, len + pad);
      if (r.initiation) io_.send_to_peer(*cur_, r.initiation->bytes());
      wire = r.wire_len;
      if (!wire) {
        if (!cur_->stage({pkt, len})) io_.bump(io_.c.tx_staged_dropped);
        return;
      }
    }
    add_out(udp, buf, wire);
    bytes_in_group_ += wire;
  }

  device::impl& io_;
  const uint32_t mtu_;
  const size_t slot_;
  std::vector<uint8_t> bufs_;
  std::vector<size_t> lens_;
  std::vector<uint8_t> super_;  // one TSO read ([vnet_hdr][packet]); empty without offloads
  size_t n_ = 0;
  bool failed_ = false;
  send_batch out_;
  // The current group (consecutive packets to one peer).
  device_peer* cur_ = nullptr;
  std::shared_ptr<keypair> kp_;
  bool have_ep_ = false;
  std::shared_ptr<const relay_hook> relay_;  // set when the group's peer is relayed
  net::endpoint relay_to_;
  bool sent_in_group_ = false;
  uint64_t bytes_in_group_ = 0;
  sockaddr_storage dst_{};
  socklen_t dst_len_ = 0;
};

void device::impl::run_tx() {
  pin_to_cpu_slot(cpu_slot);
  tx_batch batch(*this, dev.mtu_, dev.tun_.vnet());
  while (!stopping.load(std::memory_order_relaxed)) {
    pollfd p[2] = {{dev.tun_.fd(), POLLIN, 0}, {tx_wake.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;  // EINTR
    if (p[1].revents) break;
    if (!batch.read(dev.tun_)) {
      // A broken TUN (link deleted under us) polls readable forever: back
      // off instead of spinning, still answering the stop signal.
      if (batch.failed()) wait_or_stop(tx_wake.get(), error_backoff);
      continue;
    }
    batch.encrypt_and_send(*dev.snap_.load(), *dev.udp_.load(), dev.clock_.now());
  }
}

// ---------------------------------------------------------------- udp -> tun

void device::impl::run_rx() {
  pin_to_cpu_slot(cpu_slot < 0 ? -1 : cpu_slot + 1);
  recv_batch rb(std::max<size_t>(2048, dev.mtu_ + 128), dev.udp_offload_);
  std::vector<uint8_t> co_buf(dev.tun_.vnet() ? vnet_hdr_size + max_offload_packet : 0);
  tcp_coalescer co(co_buf);
  if (dev.tun_.vnet()) rx_coalescer = &co;
  while (!stopping.load(std::memory_order_relaxed)) {
    auto udp = dev.udp_.load();  // reloaded after a rebind wakes us
    pollfd p[2] = {{udp->fd(), POLLIN, 0}, {rx_wake.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;
    if (p[1].revents) {
      drain(rx_wake.get());
      continue;
    }
    auto n = rb.receive(udp->fd());
    if (!n) wait_or_stop(rx_wake.get(), error_backoff);  // see run_tx
    if (!n || *n == 0) continue;
    bump(c.rx_recvmmsg);
    auto snap = dev.snap_.load();
    for (size_t i = 0; i < *n; ++i) {
      if (rb.truncated(i)) {
        bump(c.rx_malformed);
        continue;
      }
      auto src = net::endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&rb.source(i)));
      // With UDP GRO one entry holds several datagrams of segment_size each.
      const size_t total = rb.data(i).size(), seg = rb.segment_size(i);
      for (size_t off = 0; off < total && seg; off += seg)
        handle_datagram(*snap, rb.buffer(i) + off, std::min(seg, total - off), src);
    }
    if (rx_coalescer && !rx_coalescer->empty()) write_tun(rx_coalescer->flush());
  }
  rx_coalescer = nullptr;
}

void device::impl::write_tun(std::span<const uint8_t> bytes) {
  bump(c.tun_writes);
  if (!dev.tun_.write(bytes)) bump(c.tun_write_failed);
}

void device::impl::deliver(std::span<const uint8_t> pkt) {
  if (!rx_coalescer) return write_tun(pkt);
  if (rx_coalescer->add(pkt)) return;
  write_tun(rx_coalescer->flush());
  if (!rx_coalescer->add(pkt)) bump(c.tun_write_failed);  // larger than any TUN write
}

void device::handle_datagram_for_test(std::span<uint8_t> d, const net::endpoint& src) {
  auto s = snap_.load();
  io_->handle_datagram(*s, d.data(), d.size(), src);
}

void device::impl::handle_datagram(const snapshot& s, uint8_t* buf, size_t len,
                                   const net::endpoint& src) {
  auto type = message_type_of({buf, len});
  if (!type) {
    if (looks_like_wireguard(buf, len)) {
      bump(c.rx_malformed);
    } else if (auto inner = unwrap_relayed(buf, len, src)) {
      // A relay data frame: the WireGuard packet inside, as if it came from
      // the peer's relayed endpoint (inner is WireGuard: no recursion).
      handle_datagram(s, buf + inner->offset, inner->len, inner->from);
    } else if (auto h = dev.foreign_.load()) {
      bump(c.rx_foreign);
      (*h)({buf, len}, src);
    } else {
      bump(c.rx_malformed);
    }
    return;
  }
  if (*type == message_type::transport) {
    bump(c.rx_packets);
    return handle_transport(s, buf, len, src);
  }
  handshake_item it;
  it.len = std::min(len, it.bytes.size());
  std::memcpy(it.bytes.data(), buf, it.len);
  it.src = src;
  // Answers to handshakes we started are recognised by their receiver index
  // (a lookup, no crypto) and skip the queue a flood of initiations fills.
  bool ours = false;
  if (*type != message_type::initiation && len >= 12) {
    auto e = dev.indices_.lookup(load_le32(buf + 8));
    ours = e && e->kind == index_kind::handshake;
  }
  std::lock_guard lk(hq_mu);
  if (!hq.push(it, ours)) {
    bump(c.rx_handshake_dropped);
    return;
  }
  hq_cv.notify_one();
}

void device::impl::handle_transport(const snapshot& s, uint8_t* buf, size_t len,
                                    const net::endpoint& src) {
  auto tv = parse_transport({buf, len});
  if (!tv) return bump(c.rx_malformed);
  auto e = dev.indices_.lookup(tv->receiver);
  if (!e || e->kind != index_kind::keypair) return bump(c.rx_unauthenticated);
  device_peer* p = s.find(e->peer->remote_static());
  if (!p) return bump(c.rx_unauthenticated);
  auto r = e->peer->decrypt({buf, len});
  if (!r) return bump(c.rx_unauthenticated);
  p->rx_bytes.fetch_add(len, std::memory_order_relaxed);
  p->set_endpoint(src);  // roaming: follow the latest authenticated source
  if (r->plaintext_len) {
    const uint8_t* pkt = buf + transport_header_size;
    auto inner = parse_inner(pkt, r->plaintext_len);
    device_peer* const* owner = inner ? s.routes.lookup(inner->src) : nullptr;
    if (!owner || *owner != p) {
      bump(c.rx_source_rejected);  // cryptokey routing: the source must be this peer's
    } else {
      deliver({pkt, inner->len});
    }
  }
  if (r->session_confirmed) flush_staged(*p, false);
  if (r->initiation) send_to_peer(*p, r->initiation->bytes());
}

// ---------------------------------------------------------------- handshakes

void device::impl::run_handshakes() {
  // Raising one's own niceness needs no privilege; a failure only costs the
  // priority, not correctness.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), handshake_thread_nice) != 0)
    spdlog::debug("{}: handshake thread niceness: {}", dev.name(), std::strerror(errno));
  for (;;) {
    handshake_item it;
    {
      std::unique_lock lk(hq_mu);
      hq_cv.wait(lk, [&] { return stopping.load() || !hq.empty(); });
      if (stopping.load()) return;
      it = *hq.pop();
    }
    handle_handshake(it);
  }
}

bool device::impl::under_load() {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          dev.clock_.now().time_since_epoch())
                          .count();
  size_t queued;
  {
    std::lock_guard lk(hq_mu);
    queued = hq.normal_size();
  }
  if (queued >= under_load_queue_len) {
    under_load_until_ns.store(
        now + std::chrono::duration_cast<std::chrono::nanoseconds>(under_load_linger).count());
    return true;
  }
  return now < under_load_until_ns.load();
}

void device::impl::handle_handshake(const handshake_item& it) {
  auto s = dev.snap_.load();
  const bytes_view msg(it.bytes.data(), it.len);
  auto type = message_type_of(msg);
  if (!s->identity || !type) return bump(c.rx_handshake_dropped);
  if (*type == message_type::cookie_reply) {
    auto m = parse_cookie_reply(msg);
    auto e = m ? dev.indices_.lookup(m->receiver_index()) : std::nullopt;
    if (!e || !e->peer->consume_cookie_reply(*m)) bump(c.rx_handshake_dropped);
    return;
  }
  // MAC1 always; when under load, only sources that proved their address
  // with a cookie (MAC2) get the expensive DH work, the rest a cookie reply.
  const mac_check mc = dev.cookies_.check(msg, it.src);
  if (mc == mac_check::invalid) return bump(c.rx_handshake_dropped);
  const bool loaded = under_load();
  // Under load each source address gets handshake_rate messages a second of
  // our work, cookie reply or DH alike (handshake_limiter.hpp).
  if (loaded && !hs_limiter.allow(it.src.ip(), dev.clock_.now())) return bump(c.rx_handshake_rate_limited);
  if (mc != mac_check::valid_cookie && loaded) {
    auto reply = dev.cookies_.make_reply(msg, load_le32(it.bytes.data() + 4), it.src);
    if (send_to_endpoint(*dev.udp_.load(), reply.bytes(), it.src)) bump(c.rx_cookie_replies_sent);
    return;
  }
  if (*type == message_type::initiation) {
    auto m = parse_initiation(msg);
    auto opened = m ? open_initiation(*m, *s->identity) : result<initiation_opened>(m.err());
    device_peer* p = opened ? s->find(opened->initiator_static) : nullptr;
    if (!p) return bump(c.rx_handshake_dropped);
    auto resp = p->proto().consume_initiation(*opened);
    if (!resp) return bump(c.rx_handshake_dropped);
    p->set_endpoint(it.src);
    send_to_peer(*p, resp->bytes());
    return;
  }
  auto m = parse_response(msg);
  auto e = m ? dev.indices_.lookup(m->receiver_index()) : std::nullopt;
  device_peer* p = e && e->kind == index_kind::handshake ? s->find(e->peer->remote_static()) : nullptr;
  if (!p || !e->peer->consume_response(*m)) return bump(c.rx_handshake_dropped);
  p->set_endpoint(it.src);
  // Protocol step: the initiator must send first on the new session so the
  // responder can confirm it: staged data if any, else a keepalive.
  flush_staged(*p, true);
}

// ---------------------------------------------------------------- shared helpers

void device::impl::send_to_peer(device_peer& p, std::span<const uint8_t> msg) {
  auto ep = p.endpoint();
  if (!ep) return bump(c.tx_no_endpoint);
  if (!send_to_endpoint(*dev.udp_.load(), msg, *ep)) return bump(c.tx_send_failed);
  p.tx_bytes.fetch_add(msg.size(), std::memory_order_relaxed);
}

bool device::impl::send_to_endpoint(const udp_socket& udp, std::span<const uint8_t> msg, const net::endpoint& to) {
  if (auto h = relay()) {
    thread_local std::vector<uint8_t> frame;  // this thread's scratch (several threads send)
    net::endpoint server;
    if (h->wrap(to, msg, frame, server)) return static_cast<bool>(udp.send_to(frame, server));
  }
  return static_cast<bool>(udp.send_to(msg, to));
}

std::optional<relay_hook::unwrapped> device::impl::unwrap_relayed(const uint8_t* buf, size_t len,
                                                                  const net::endpoint& src) {
  auto h = relay();
  if (!h) return std::nullopt;
  auto u = h->unwrap({buf, len}, src);
  if (!u || u->offset > len || u->len > len - u->offset) return std::nullopt;
  // Only WireGuard may come out of a frame (so the caller's recursion is one
  // level deep); anything else goes on to the foreign handler.
  if (!message_type_of({buf + u->offset, u->len})) return std::nullopt;
  return u;
}

void device::impl::send_keepalive(device_peer& p) {
  std::array<uint8_t, transport_header_size + aead_tag_size> buf{};
  auto r = p.proto().encrypt(buf, 0);
  if (r.initiation) send_to_peer(p, r.initiation->bytes());
  if (r.wire_len) send_to_peer(p, {buf.data(), r.wire_len});
}

void device::impl::flush_staged(device_peer& p, bool keepalive_if_empty) {
  auto staged = p.take_staged();
  if (staged.empty()) {
    if (keepalive_if_empty) send_keepalive(p);
    return;
  }
  std::vector<uint8_t> buf(dev.mtu_ + tx_slot_extra);
  for (const auto& pkt : staged) {
    if (pkt.size() > dev.mtu_) continue;
    std::memcpy(buf.data() + transport_header_size, pkt.data(), pkt.size());
    const size_t pad = padding_for(pkt.size(), dev.mtu_);
    std::memset(buf.data() + transport_header_size + pkt.size(), 0, pad);
    auto r = p.proto().encrypt(buf, pkt.size() + pad);
    if (r.initiation) send_to_peer(p, r.initiation->bytes());
    if (r.wire_len)
      send_to_peer(p, {buf.data(), r.wire_len});
    else if (!p.stage(pkt))
      bump(c.tx_staged_dropped);
  }
}

// ---------------------------------------------------------------- timers

void device::impl::run_timers() {
  for (;;) {
    {
      std::unique_lock lk(timer_mu);
      timer_cv.wait_for(lk, timer_tick, [&] { return stopping.load(); });
    }
    if (stopping.load()) return;
    auto s = dev.snap_.load();
    for (const auto& p : s->peers) {
      auto t = p->proto().poll();
      if (t.drop_staged) p->drop_staged();
      if (t.initiation) send_to_peer(*p, t.initiation->bytes());
      if (t.send_keepalive) send_keepalive(*p);
    }
  }
}

}  // namespace overlayd::wg
