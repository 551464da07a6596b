#include "net/nat/relay_routes.hpp"

#include "net/nat/relay_protocol.hpp"
#include "net/nat/turn_client.hpp"

namespace overlayd::net::nat {

relay_routes::relay_routes() : t_(std::make_shared<const table>()) {}

void relay_routes::set(std::vector<relay_route> routes) {
  if (routes.size() > max_routes) routes.resize(max_routes);
  auto t = std::make_shared<table>();
  for (const auto& r : routes) {
    t->by_peer.insert_or_assign(r.peer, r);
    const uint16_t key = r.how == relay_route::kind::ours ? r.peer.port() : r.channel;
    t->by_rx.insert_or_assign(std::make_tuple(r.server, r.how, key), r);
  }
  t->all = std::move(routes);
  t_.store(std::move(t));
}

std::vector<relay_route> relay_routes::routes() const { return t_.load()->all; }

bool relay_routes::relays(const endpoint& to) const { return t_.load()->by_peer.count(to) != 0; }

bool relay_routes::wrap(const endpoint& to, std::span<const uint8_t> packet, std::vector<uint8_t>& frame,
                        endpoint& server) const {
  auto t = t_.load();
  auto it = t->by_peer.find(to);
  if (it == t->by_peer.end()) return false;
  const relay_route& r = it->second;
  if (r.how == relay_route::kind::ours) {
    if (packet.size() > relay::max_payload) return false;
    frame = relay::encode_data(r.peer.port(), r.session_id, r.token, packet);
  } else {
    if (packet.size() > 0xffff) return false;
    // Over UDP, ChannelData needs no padding (RFC 8656 section 12.5).
    frame = encode_channel_data(r.channel, packet);
  }
  server = r.server;
  return true;
}

std::optional<wg::relay_hook::unwrapped> relay_routes::unwrap(std::span<const uint8_t> d,
                                                              const endpoint& from) const {
  if (d.empty()) return std::nullopt;
  auto t = t_.load();
  if (t->all.empty()) return std::nullopt;
  if (d[0] == uint8_t(relay::msg_type::data)) {
    auto f = relay::decode_data(d);
    if (!f) return std::nullopt;
    auto it = t->by_rx.find(std::make_tuple(from, relay_route::kind::ours, f->peer_port));
    // relay -> client frames carry the receiver's (our) session and token.
    if (it == t->by_rx.end() || it->second.session_id != f->session_id || it->second.token != f->token)
      return std::nullopt;
    return unwrapped{size_t(f->payload.data() - d.data()), f->payload.size(), it->second.peer};
  }
  if (auto cd = decode_channel_data(d)) {
    auto it = t->by_rx.find(std::make_tuple(from, relay_route::kind::turn, cd->channel));
    if (it == t->by_rx.end()) return std::nullopt;
    return unwrapped{size_t(cd->payload.data() - d.data()), cd->payload.size(), it->second.peer};
  }
  return std::nullopt;
}

}  // namespace overlayd::net::nat
