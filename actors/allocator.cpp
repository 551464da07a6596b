#include "actors/allocator.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/traced.hpp"
#include "net/ipam.hpp"

namespace overlayd::actors {

namespace {
using reply = caf::result<correlation_id, ipc::response>;

ipc::response engine_error(const error& e) {
  return ipc::resp::err{"overlay engine error: " + e.message};
}

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

class allocator_impl : public traced<allocator_actor::base> {
 public:
  allocator_impl(caf::actor_config& cfg, observability* obs, std::shared_ptr<net::node_pools> pools)
      : traced(cfg, obs, "allocator"), owned_(std::move(pools)), pools_(*owned_) {}

  behavior_type make_behavior() override {
    return {
        [this](alloc_ip_atom, correlation_id c, const ipc::req::allocate_ip& r) -> reply {
          // join_global reserves no second IP here: attach does (seed).
          auto ip = pools_.allocate(r.service);
          if (!ip) return {c, engine_error(ip.err())};
          return {c, ipc::resp::ip{*ip}};
        },
        [this](release_atom, correlation_id c, const ipc::req::release_ip& r) -> reply {
          pools_.release(r.ip);
          return {c, ipc::resp::ok{}};
        },
        [this](pools_atom, correlation_id c, const pool_request& r)
            -> caf::result<correlation_id, pool_reply> { return {c, apply(r)}; },
    };
  }

 private:
  pool_reply apply(const pool_request& r) {
    pool_reply out;
    auto fail = [&out](const error& e) { out.failure = e; };
    std::visit(
        overloaded{
            [&](const pool::set_slice& m) { pools_.set_slice(m.slice); },
            [&](const pool::set_cluster& m) {
              if (auto s = pools_.set_cluster(m.cluster, m.node_ip); !s) fail(s.err());
            },
            [&](const pool::assign_subnet& m) {
              auto s = pools_.assign_subnet(m.key, m.node);
              if (s) out.subnet = *s; else fail(s.err());
            },
            [&](const pool::release_subnet& m) { pools_.release_subnet(m.key, m.node); },
            [&](const pool::open& m) { pools_.open_pool(m.pool, m.subnet); },
            [&](const pool::close& m) { pools_.close_pool(m.pool); },
            [&](const pool::bind& m) { pools_.bind(m.service, m.pool); },
            [&](const pool::unbind& m) { pools_.unbind(m.service); },
            [&](const pool::allocate& m) {
              const net::cidr range = pools_.range_for(m.service);
              auto ip = pools_.allocate(m.service);
              if (ip) {
                out.ip = *ip;
                out.subnet = range;
              } else {
                fail(ip.err());
              }
            },
            [&](const pool::allocate_slice&) {
              auto ip = pools_.allocate_from_slice();
              if (ip) out.ip = *ip; else fail(ip.err());
            },
            [&](const pool::release& m) { pools_.release(m.ip); },
            [&](const pool::allocate_port& m) {
              auto p = pools_.allocate_port(m.base);
              if (p) out.port = *p; else fail(p.err());
            },
            [&](const pool::reserve_port& m) { pools_.reserve_port(m.base, m.port); },
            [&](const pool::release_port& m) { pools_.release_port(m.port); },
            [&](const pool::assignments&) {
              if (const auto* reg = pools_.registry())
                for (const auto& [key, subnet] : reg->assignments())
                  out.assignments.emplace_back(key.first, key.second, subnet);
            },
        },
        r);
    return out;
  }

  std::shared_ptr<net::node_pools> owned_;
  net::node_pools& pools_;
};
}  // namespace

net::cidr default_node_slice() { return *net::cidr::parse("10.200.0.0/16"); }

allocator_actor spawn_allocator(caf::actor_system& sys, observability* obs,
                                std::shared_ptr<net::node_pools> pools) {
  return sys.spawn<allocator_impl>(obs, std::move(pools));
}

}  // namespace overlayd::actors
