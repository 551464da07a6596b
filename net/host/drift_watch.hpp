// drift_watch: notices when something else changes what the daemon owns in
// nftables (`nft flush ruleset`, as `systemctl reload nftables` does; a
// deleted set element) or removes one of its routes, and has the mutator put
// it back (mutator::repair_firewall_drift / repair_route_drift /
// repair_address_drift), so
// isolation never stays open silently.
//
// One thread per daemon. It listens on the nftables and rtnetlink route
// multicast groups (every change in this namespace, ours included) and
// checks ~100 ms after the last event; a periodic check is the backstop for
// a missed event (multicast overrun, no permission to subscribe).
// Timers: the periodic check (`period`, 2 s in the daemon).
//
//   netlink event / period ──> repair_firewall_drift() ──> on_repair()
//                                 (compares our tables' listing with the
//                                  one we left; rebuilds them if it differs)
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "core/error.hpp"
#include "core/unique_fd.hpp"
#include "net/host/mutator.hpp"

namespace overlayd::host {

class drift_watch {
 public:
  using repaired_fn = std::function<void()>;  // runs on the watch thread

  // `view` is the watch's own mutator handle, opened in the namespace to
  // watch (the thread joins that namespace's nftables group from it).
  static result<std::unique_ptr<drift_watch>> start(mutator view, std::chrono::milliseconds period,
                                                    repaired_fn on_repair);
  ~drift_watch();  // stops and joins the thread
  drift_watch(const drift_watch&) = delete;
  drift_watch& operator=(const drift_watch&) = delete;

 private:
  drift_watch(mutator view, unique_fd events, unique_fd routes, unique_fd wake, std::chrono::milliseconds period,
              repaired_fn fn);
  void loop();
  void check();

  mutator view_;
  unique_fd events_;  // NETLINK_NETFILTER, NFNLGRP_NFTABLES; empty when not subscribed
  unique_fd routes_;  // NETLINK_ROUTE, IPv4/IPv6 route groups; empty when not subscribed
  unique_fd wake_;    // eventfd: wakes the thread to stop
  std::chrono::milliseconds period_;
  repaired_fn on_repair_;
  std::thread thread_;
};

}  // namespace overlayd::host
