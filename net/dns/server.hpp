// The overlay DNS server: UDP and TCP on the configured listen endpoints,
// answering from a shared record_store through resolve() (resolver.hpp) and
// forwarding the rest to upstream resolvers.
//
// Threads: one event loop (epoll) owns the UDP sockets, the TCP listeners,
// the upstream sockets and the pending-forward table; each TCP client gets
// its own thread (at most limits::max_tcp_connections, idle ones closed after
// limits::tcp_idle_timeout). Every public method is thread-safe; the store
// may be shared with its writer (the dns actor) and outlives stop()/start(),
// so names registered while the server is down are served once it starts.
//
// Timers: upstream_timeout per upstream per forwarded query (then the next
// upstream, then SERVFAIL); tcp_idle_timeout per TCP connection.
//
// Against abuse (issue 12): queries are judged by their header counts before
// parsing (resolver.cpp); recursion only for loopback, this host and
// recursion_allow (others: REFUSED); each forwarded UDP query leaves from a
// socket of its own, connected to the upstream, on a fresh kernel-chosen
// port, so an answer must match the upstream's address and port, the random
// id and the question; UDP responses are rate-limited per client prefix.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "net/dns/limits.hpp"
#include "net/dns/record_store.hpp"
#include "net/ip.hpp"

namespace overlayd::net::dns {

struct server_config {
  std::string domain = "overlay";  // the zone we answer for authoritatively
  std::chrono::seconds ttl = limits::default_ttl;
  std::vector<endpoint> listen;     // UDP and TCP each; port 0 picks one; a
                                    // wildcard address answers from the address asked
  std::vector<endpoint> upstreams;  // empty: names outside the domain get SERVFAIL
                                    // (default_upstreams() in resolv_conf.hpp)
  std::chrono::milliseconds upstream_timeout = limits::default_upstream_timeout;
  // Who may have names outside the zone resolved (forwarded) for them,
  // besides loopback and this host itself; the rest get REFUSED.
  std::vector<cidr> recursion_allow;
  // Response rate limit per client prefix (rate_limit.hpp); 0 = off.
  double rrl_per_second = limits::rrl_default_per_second;
  double rrl_burst = limits::rrl_default_burst;
};

struct server_stats {
  uint64_t udp_queries = 0, tcp_queries = 0, answered = 0, forwarded = 0, upstream_failures = 0,
           dropped = 0, tcp_rejected = 0, refused = 0, rate_limited = 0, spoofed = 0;
};

class server {
 public:
  server(std::shared_ptr<record_store> store, server_config cfg);
  ~server();  // stops
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds every listen endpoint (UDP + TCP) and starts the threads; all or
  // nothing. OK if already running.
  status start();
  // Closes the sockets and joins every thread; pending forwards are dropped.
  void stop();
  bool running() const;

  // Adds a listen endpoint (idempotent); bound at once when running.
  status add_listen(const endpoint& ep);
  // Stops serving on `ep` (as it was added); errc::not_found if absent.
  status remove_listen(const endpoint& ep);
  // Replaces the listen list; only while stopped (errc::precondition).
  status set_listen(std::vector<endpoint> eps);
  // Takes effect with the next query.
  status set_domain(std::string_view domain);
  // Answers under `domain` too, with the same records (idempotent; the
  // primary domain is a no-op). Bounded: limits::max_extra_domains.
  status add_domain(std::string_view domain);
  status set_upstreams(std::vector<endpoint> upstreams);
  void set_ttl(std::chrono::seconds ttl);
  // Adds or removes a CIDR allowed recursion (the cluster, --dns-allow).
  status allow_recursion(const cidr& c, bool on);

  // The endpoints actually bound (ports chosen for port 0); empty when stopped.
  std::vector<endpoint> bound_endpoints() const;
  server_stats stats() const;
  const std::shared_ptr<record_store>& store() const noexcept;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace overlayd::net::dns
