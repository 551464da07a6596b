#include "actors/allocator.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/traced.hpp"
#include "core/atomic_file.hpp"
#include "net/ipam.hpp"
#include "net/subnet_file.hpp"

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
  allocator_impl(caf::actor_config& cfg, observability* obs, std::shared_ptr<net::node_pools> pools,
                 std::string data_dir)
      : traced(cfg, obs, "allocator"),
        owned_(std::move(pools)),
        pools_(*owned_),
        file_(data_dir.empty() ? std::string() : data_dir + "/" + net::subnet_file_name) {}

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
        [this](pools_atom, correlation_id c, const pool_request& r) -> caf::result<correlation_id, pool_reply> {
          caf::result<correlation_id, pool_reply> res{c, apply(r)};
          reply_built();  // pool_client::ask reads it from a scoped_actor
          return res;
        },
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
              const auto before = pools_.registry() ? std::optional(pools_.registry()->cluster()) : std::nullopt;
              if (auto s = pools_.set_cluster(m.cluster, m.node_ip); !s) fail(s.err());
              else if (before != pools_.registry()->cluster()) load();  // a new registry
            },
            [&](const pool::assign_subnet& m) {
              const bool known = pools_.registry() && pools_.registry()->lookup(m.key, m.node);
              std::vector<net::subnet_skip> skips;
              auto s = pools_.assign_subnet(m.key, m.node, &skips);
              for (const auto& k : skips)
                spdlog::info("service subnet for {}@{}: skipped {} ({} slot{}): {}", m.key, m.node,
                             k.slot.to_string(), k.count, k.count == 1 ? "" : "s", k.reason);
              if (!s) return fail(s.err());
              out.subnet = *s;
              if (!known) {
                if (auto w = save(); !w) {
                  // Not kept: a restart could not give this subnet back.
                  pools_.release_subnet(m.key, m.node);
                  fail(w.err());
                }
              }
            },
            [&](const pool::release_subnet& m) {
              if (pools_.registry() && pools_.registry()->lookup(m.key, m.node)) {
                pools_.release_subnet(m.key, m.node);
                if (auto w = save(); !w) spdlog::warn("service subnets: {}", w.err().message);
              }
            },
            [&](const pool::set_routed& m) { pools_.set_routed(m.owner, m.cidrs); },
            [&](const pool::bindings&) { out.bindings = pools_.bindings(); },
            [&](const pool::route_check& m) {
              for (const auto& c : m.cidrs)
                if (auto why = pools_.route_conflict(c, m.node)) return fail(error(errc::already_exists, *why));
            },
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
            [&](const pool::reserve& m) {
              if (auto r = pools_.reserve(m.ip); !r) fail(r.err());
            },
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

  // Re-binds the assignments persisted for this cluster. A file for another
  // cluster (the agent changed it) is left alone and replaced on the next save.
  void load() {
    if (file_.empty()) return;
    auto text = read_file_nofollow(file_);
    if (!text) {
      if (text.err().code != errc::not_found) spdlog::warn("service subnets: {}", text.err().message);
      return;
    }
    auto f = net::parse_subnet_file(*text);
    if (!f) {
      // Kept aside, never overwritten: the next save starts a fresh file.
      auto aside = quarantine_file(file_);
      const std::string line = "service subnets " + file_ + " did not parse (" + f.err().message + "); " +
                               (aside ? "moved to " + *aside : "could not be moved aside: " + aside.err().message) +
                               "; assignments start afresh";
      spdlog::error("{}", line);
      obs().report_state_problem(line, aside.ok());
      return;
    }
    const net::cidr cluster = pools_.registry()->cluster();
    if (f->cluster.normalized() != cluster) {
      spdlog::info("service subnets: {} is for cluster {}, not {}; not restored", file_,
                   f->cluster.to_string(), cluster.to_string());
      return;
    }
    size_t restored = 0;
    for (const auto& r : f->records) {
      if (auto s = pools_.restore_subnet(r.service, r.node, r.subnet); !s)
        spdlog::warn("service subnets: {}@{} {} not restored: {}", r.service, r.node, r.subnet.to_string(),
                     s.err().message);
      else
        ++restored;
    }
    if (restored) spdlog::info("service subnets: {} assignment(s) restored from {}", restored, file_);
  }

  status save() {
    if (file_.empty() || !pools_.registry()) return {};
    net::subnet_file f;
    f.cluster = pools_.registry()->cluster();
    for (const auto& [key, subnet] : pools_.registry()->assignments()) f.records.push_back({key.first, key.second, subnet});
    if (auto w = write_file_atomic(file_, net::format_subnet_file(f)); !w)
      return error(w.err().code, "service subnets not persisted: " + w.err().message, w.err().sys_errno);
    return {};
  }

  std::shared_ptr<net::node_pools> owned_;
  net::node_pools& pools_;
  std::string file_;  // <data_dir>/service_subnets, or empty
};
}  // namespace

net::cidr default_node_slice() { return *net::cidr::parse("10.200.0.0/16"); }

allocator_actor spawn_allocator(caf::actor_system& sys, observability* obs,
                                std::shared_ptr<net::node_pools> pools, std::string data_dir) {
  return sys.spawn<allocator_impl>(obs, std::move(pools), std::move(data_dir));
}

}  // namespace overlayd::actors
