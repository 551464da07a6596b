#include "actors/dns.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>

#include "actors/traced.hpp"

namespace overlayd::actors {

namespace {
using reply = caf::result<correlation_id, ipc::response>;

class dns_impl : public traced<dns_actor::base> {
 public:
  dns_impl(caf::actor_config& cfg, observability* obs) : traced(cfg, obs, "dns") {}

  behavior_type make_behavior() override {
    return {
        [this](dns_set_atom, correlation_id c, const ipc::req::register_dns& r) -> reply {
          if (!records_.count(r.name) && records_.size() >= max_dns_records)
            return {c, ipc::resp::err{"overlay engine error: DNS record limit (" +
                                      std::to_string(max_dns_records) + ") reached; cannot register " +
                                      r.name}};
          records_[r.name] = r.ip;
          return {c, ipc::resp::ok{}};
        },
        [this](dns_del_atom, correlation_id c, const ipc::req::unregister_dns& r) -> reply {
          records_.erase(r.name);
          return {c, ipc::resp::ok{}};
        },
    };
  }

 private:
  std::map<std::string, net::ip_address> records_;
};
}  // namespace

dns_actor spawn_dns(caf::actor_system& sys, observability* obs) {
  return sys.spawn<dns_impl>(obs);
}

}  // namespace overlayd::actors
