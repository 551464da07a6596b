#include "net/host/drift_watch.hpp"

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace overlayd::host {

namespace {

// Coalesces a burst of ruleset events (one nft transaction sends several)
// into one check.
constexpr int settle_ms = 100;

unique_fd subscribe(int protocol, uint32_t groups) {
  unique_fd fd{::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol)};
  if (!fd) return {};
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = groups;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return {};
  return fd;
}

// Reads and discards every queued event; only "something changed" matters.
void drain(int fd) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN, or ENOBUFS (overrun: the check covers it)
  }
}

}  // namespace

result<std::unique_ptr<drift_watch>> drift_watch::start(mutator view, std::chrono::milliseconds period,
                                                        repaired_fn on_repair) {
  unique_fd wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  if (!wake) return system_error("eventfd", "drift watch", errno);
  unique_fd events = subscribe(NETLINK_NETFILTER, 1u << (NFNLGRP_NFTABLES - 1));
  if (!events)
    spdlog::warn("drift watch: cannot subscribe to nftables events ({}); checking every {} ms only",
                 std::strerror(errno), period.count());
  unique_fd routes =
      subscribe(NETLINK_ROUTE, RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR);
  if (!routes)
    spdlog::warn("drift watch: cannot subscribe to route and address events ({}); checking every {} ms only",
                 std::strerror(errno), period.count());
  std::unique_ptr<drift_watch> w(new drift_watch(std::move(view), std::move(events), std::move(routes),
                                                 std::move(wake), period, std::move(on_repair)));
  w->thread_ = std::thread([p = w.get()] { p->loop(); });
  return w;
}

drift_watch::drift_watch(mutator view, unique_fd events, unique_fd routes, unique_fd wake,
                         std::chrono::milliseconds period, repaired_fn fn)
    : view_(std::move(view)),
      events_(std::move(events)),
      routes_(std::move(routes)),
      wake_(std::move(wake)),
      period_(period),
      on_repair_(std::move(fn)) {}

drift_watch::~drift_watch() {
  uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void drift_watch::check() {
  auto r = view_.repair_firewall_drift();
  if (!r) {
    spdlog::error("host drift: our nft tables differ from what we set and could not be restored: {}",
                  r.err().message);
  } else if (*r) {
    spdlog::warn("host drift: our nft tables were changed by someone else (e.g. `nft flush ruleset`); restored them");
    if (on_repair_) on_repair_();
  }
  auto routes = view_.repair_route_drift();  // logs each route it puts back
  if (!routes) spdlog::error("host drift: our routes could not be checked or restored: {}", routes.err().message);
  else if (*routes > 0 && on_repair_) on_repair_();
  auto addrs = view_.repair_address_drift();  // logs each address it puts back
  if (!addrs) spdlog::error("host drift: our addresses could not be checked or restored: {}", addrs.err().message);
  else if (*addrs > 0 && on_repair_) on_repair_();
}

void drift_watch::loop() {
  int timeout = static_cast<int>(period_.count());
  for (;;) {
    pollfd fds[3] = {{wake_.get(), POLLIN, 0},
                     {events_ ? events_.get() : -1, POLLIN, 0},
                     {routes_ ? routes_.get() : -1, POLLIN, 0}};
    int n = ::poll(fds, 3, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (fds[0].revents & POLLIN) return;
    if (n > 0 && ((fds[1].revents | fds[2].revents) & (POLLIN | POLLERR))) {
      if (events_) drain(events_.get());
      if (routes_) drain(routes_.get());
      timeout = settle_ms;  // check once the burst is over
      continue;
    }
    check();  // the settle delay or the period ran out
    timeout = static_cast<int>(period_.count());
  }
}

}  // namespace overlayd::host
