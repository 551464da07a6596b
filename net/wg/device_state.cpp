#include "net/wg/device_state.hpp"

#include <algorithm>

namespace overlayd::wg {

std::optional<net::endpoint> device_peer::endpoint() const {
  std::lock_guard lk(ep_mu_);
  return ep_;
}

void device_peer::set_endpoint(const net::endpoint& ep) {
  std::lock_guard lk(ep_mu_);
  if (ep_ && *ep_ == ep) return;
  ep_ = ep;
  ep_version_.fetch_add(1, std::memory_order_release);
}

bool device_peer::stage(std::span<const uint8_t> pkt) {
  std::lock_guard lk(staged_mu_);
  bool dropped = false;
  if (staged_.size() >= max_staged_packets) {
    staged_.pop_front();
    dropped = true;
  }
  staged_.emplace_back(pkt.begin(), pkt.end());
  return !dropped;
}

std::deque<std::vector<uint8_t>> device_peer::take_staged() {
  std::lock_guard lk(staged_mu_);
  return std::exchange(staged_, {});
}

void device_peer::drop_staged() {
  std::lock_guard lk(staged_mu_);
  staged_.clear();
}

namespace {

void remove_peer(snapshot& s, const public_key& k) {
  auto it = s.by_key.find(k);
  if (it == s.by_key.end()) return;
  device_peer* p = it->second.get();
  s.routes.remove_by_value(p);
  std::erase_if(s.peers, [p](const auto& q) { return q.get() == p; });
  s.by_key.erase(it);
}

// Allowed-IPs changes of one peer, in UAPI order: replace, add, then remove.
status apply_allowed_ips(snapshot& s, device_peer* p, const peer_update& pu) {
  if (pu.replace_allowed_ips) s.routes.remove_by_value(p);
  for (const auto& c : pu.allowed_ips) OVERLAYD_TRY(s.routes.insert(c.normalized(), p));
  for (const auto& c : pu.remove_allowed_ips) {
    const auto* owner = s.routes.exact(c.normalized());
    if (owner && *owner == p) s.routes.remove(c.normalized());
  }
  if (!pu.allowed_ips.empty() && s.routes.list(p).size() > max_allowed_ips_per_peer)
    return error(errc::exhausted, "peer " + crypto::key_to_base64(p->key().span()) + ": more than " +
                                      std::to_string(max_allowed_ips_per_peer) + " allowed IPs");
  return {};
}

}  // namespace

result<std::shared_ptr<const snapshot>> snapshot_builder::apply(const snapshot& cur,
                                                                const device_update& u,
                                                                apply_effects& fx) {
  auto next = std::make_shared<snapshot>(cur);
  // In-place changes of peers the current snapshot shares; run only once
  // every check below has passed.
  std::vector<std::function<void()>> commit;

  if (u.private_key) {
    if (u.private_key->is_zero()) {
      fx.identity_changed = cur.identity != nullptr;
      next->identity.reset();
    } else {
      crypto::private_key sk(u.private_key->span());
      crypto::clamp(sk);
      // The same key again (wg syncconf always sends it) keeps every session.
      if (!cur.identity || !(cur.identity->private_key == sk)) {
        next->identity = std::make_shared<const static_identity>(static_identity::from_private(sk));
        fx.identity_changed = true;
      }
    }
  }
  if (u.listen_port) fx.listen_port = u.listen_port;
  if (u.fwmark) {
    next->fwmark = *u.fwmark;
    fx.fwmark = u.fwmark;
  }
  if (u.replace_peers) {
    next->peers.clear();
    next->by_key.clear();
    next->routes.clear();
  }

  // A peer with the device's own public key is silently ignored, as the
  // kernel's WireGuard does ("We silently ignore peers that have the same
  // public key as the device"): one peer list can then go to every node.
  const auto is_self = [&](const crypto::public_key& k) {
    return next->identity && next->identity->public_key == k;
  };
  for (const auto& pu : u.peers) {
    if (pu.remove) {
      remove_peer(*next, pu.key);
      continue;
    }
    if (is_self(pu.key)) continue;
    auto it = next->by_key.find(pu.key);
    std::shared_ptr<device_peer> p;
    if (it != next->by_key.end()) {
      p = it->second;
    } else {
      if (pu.update_only) continue;
      if (next->peers.size() >= max_peers)
        return error(errc::exhausted, "device: peer limit of " + std::to_string(max_peers) + " reached");
      p = std::make_shared<device_peer>(pu.key, peer_protocol::create(pu.key, indices_, clock_));
      next->peers.push_back(p);
      next->by_key.emplace(pu.key, p);
      commit.push_back([p, id = next->identity] { p->proto().set_identity(id); });
    }
    if (pu.preshared_key)
      commit.push_back([p, psk = *pu.preshared_key] {
        p->preshared_key = psk;
        p->proto().set_preshared_key(psk);
      });
    if (pu.endpoint) commit.push_back([p, ep = *pu.endpoint] { p->set_endpoint(ep); });
    if (pu.persistent_keepalive)
      commit.push_back([p, ka = *pu.persistent_keepalive] {
        p->persistent_keepalive = ka;
        p->proto().set_persistent_keepalive(std::chrono::seconds(ka));
      });
    OVERLAYD_TRY(apply_allowed_ips(*next, p.get(), pu));
  }

  // A new private key whose public half is an existing peer's: that peer goes.
  if (fx.identity_changed && next->identity)
    for (auto it = next->peers.begin(); it != next->peers.end(); ++it)
      if (is_self((*it)->key())) {
        const crypto::public_key k = (*it)->key();
        remove_peer(*next, k);
        break;
      }
  if (fx.identity_changed)
    for (const auto& p : next->peers)
      commit.push_back([p, id = next->identity] { p->proto().set_identity(id); });
  for (auto& c : commit) c();
  return std::shared_ptr<const snapshot>(std::move(next));
}

}  // namespace overlayd::wg
