#include "actors/dns.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/traced.hpp"
#include "net/dns/record_store.hpp"
#include "net/dns/resolv_conf.hpp"
#include "net/dns/server.hpp"

namespace overlayd::actors {

namespace {
using reply = caf::result<correlation_id, ipc::response>;

net::dns::server_config server_config_of(const dns_config& c) {
  net::dns::server_config sc;
  sc.domain = c.domain;
  sc.ttl = c.ttl;
  sc.listen = c.listen;
  sc.upstreams = c.upstreams ? *c.upstreams : net::dns::default_upstreams();
  sc.recursion_allow = c.recursion_allow;
  return sc;
}

class dns_impl : public traced<dns_actor::base> {
 public:
  dns_impl(caf::actor_config& cfg, observability* obs, dns_config dc,
           std::shared_ptr<net::dns::record_store> store)
      : traced(cfg, obs, "dns"), store_(store), server_(store, server_config_of(dc)) {
    if (!dc.listen.empty()) {
      if (auto r = server_.start(); !r) spdlog::error("dns: cannot serve: {}", r.err().message);
    }
  }

  behavior_type make_behavior() override {
    return {
        [this](dns_set_atom, correlation_id c, const ipc::req::register_dns& r) -> reply {
          if (auto s = store_->set(r.name, r.ip); !s)
            return {c, ipc::resp::err{"overlay engine error: register_dns(" + r.name + "): " + s.err().message}};
          return {c, ipc::resp::ok{}};
        },
        [this](dns_del_atom, correlation_id c, const ipc::req::unregister_dns& r) -> reply {
          store_->remove(r.name);
          return {c, ipc::resp::ok{}};
        },
        [this](dns_listen_atom, correlation_id c, const net::endpoint& ep, bool on) -> reply {
          return {c, listen(ep, on)};
        },
        [this](dns_allow_atom, correlation_id c, const net::cidr& allowed, bool on) -> reply {
          if (auto r = server_.allow_recursion(allowed, on); !r)
            return {c, ipc::resp::err{"overlay engine error: DNS recursion for " + allowed.to_string() +
                                      ": " + r.err().message}};
          return {c, ipc::resp::ok{}};
        },
        [this](dns_domain_atom, correlation_id c, const std::string& domain) -> reply {
          if (auto r = server_.add_domain(domain); !r)
            return {c, ipc::resp::err{"overlay engine error: DNS domain " + domain + ": " + r.err().message}};
          return {c, ipc::resp::ok{}};
        },
    };
  }

  void on_exit() override { server_.stop(); }

 private:
  ipc::response listen(const net::endpoint& ep, bool on) {
    if (on) {
      if (auto r = server_.add_listen(ep); !r)
        return ipc::resp::err{"overlay engine error: DNS on " + ep.to_string() + ": " + r.err().message};
      if (!server_.running()) {
        if (auto r = server_.start(); !r)
          return ipc::resp::err{"overlay engine error: DNS on " + ep.to_string() + ": " + r.err().message};
      }
      spdlog::info("dns: serving on {}", ep.to_string());
    } else {
      (void)server_.remove_listen(ep);
      if (server_.bound_endpoints().empty()) server_.stop();
    }
    return ipc::resp::ok{};
  }

  std::shared_ptr<net::dns::record_store> store_;
  net::dns::server server_;
};
}  // namespace

dns_actor spawn_dns(caf::actor_system& sys, observability* obs, dns_config cfg,
                    std::shared_ptr<net::dns::record_store> store) {
  return sys.spawn<dns_impl>(obs, std::move(cfg), std::move(store));
}

}  // namespace overlayd::actors
