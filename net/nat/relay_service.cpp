#include "net/nat/relay_service.hpp"

#include <memory>

namespace overlayd::net::nat {

relay_service::relay_service(udp_socket s, endpoint local, relay_server_options opts)
    : sock_(std::move(s)), local_(local), server_(std::make_unique<relay_server>(std::move(opts))) {}

result<relay_service> relay_service::start(const endpoint& listen, relay_server_options opts) {
  if (opts.credential.empty()) return error(errc::invalid_argument, relay_credential_required);
  auto s = udp_socket::bind(listen);
  if (!s) return std::move(s).err();
  auto local = s->local_endpoint();
  if (!local) return std::move(local).err();
  opts.listen_port = local->port();
  if (opts.external_ip.is_unspecified()) opts.external_ip = local->ip();
  return relay_service(std::move(*s), *local, std::move(opts));
}

status relay_service::run_once(std::chrono::milliseconds budget) {
  auto got = sock_.receive(budget);
  if (!got) return std::move(got).err();
  auto now = std::chrono::system_clock::now();
  if (*got) {
    for (const auto& d : server_->on_datagram((*got)->from, (*got)->data, now)) {
      // A send failure toward one client must not stop the relay.
      (void)sock_.send_to(d.to, d.data);
    }
  }
  if (now - last_expire_ >= std::chrono::seconds(1)) {
    server_->expire(now);
    last_expire_ = now;
  }
  return {};
}

status relay_service::run(const std::atomic<bool>& stop, std::chrono::milliseconds poll_interval) {
  while (!stop.load()) OVERLAYD_TRY(run_once(poll_interval));
  return {};
}

}  // namespace overlayd::net::nat
