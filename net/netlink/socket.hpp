// An rtnetlink (NETLINK_ROUTE) socket over libmnl, and the request builder
// every operation in net/netlink/ uses. Only this directory sees netlink
// attributes; callers speak names, indexes and net::cidr.
//
// One socket serves one thread at a time (it owns a sequence counter and a
// receive buffer). Open one per actor or per worker thread; opening is cheap.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace overlayd::netlink {

// A netlink request under construction: a header, a family header and
// attributes, in one aligned buffer. Plain data, no socket: the builders in
// link/addr/route fill one of these, so they are unit-testable.
class request {
 public:
  // `type` is RTM_*, `flags` are NLM_F_* beyond NLM_F_REQUEST (always set).
  request(uint16_t type, uint16_t flags);

  nlmsghdr* header() noexcept;
  const nlmsghdr* header() const noexcept;
  // Reserves the family header (ifinfomsg, ifaddrmsg, rtmsg) right after the
  // netlink header; call once, before any attribute.
  template <class T>
  T* family_header() {
    return static_cast<T*>(put_extra(sizeof(T)));
  }
  void put_u32(uint16_t type, uint32_t v);
  void put_u8(uint16_t type, uint8_t v);
  void put_str(uint16_t type, std::string_view s);
  void put_bytes(uint16_t type, const void* data, size_t len);
  // Opens a nested attribute; close it with end_nest(returned value).
  void* begin_nest(uint16_t type);
  void end_nest(void* nest);
  // Raw bytes at the tail (a nested ifinfomsg for a veth peer).
  void* put_extra(size_t len);

  size_t size() const noexcept;

 private:
  std::vector<uint64_t> buf_;  // uint64_t: keeps the header aligned
};

// Called once per message of a reply or a dump part.
using message_handler = std::function<void(const nlmsghdr*)>;

class socket {
 public:
  // Opens and binds a NETLINK_ROUTE socket in the caller's network namespace.
  static result<socket> open();

  socket(socket&&) noexcept;
  socket& operator=(socket&&) noexcept;
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;
  ~socket();

  // Sends `req` with NLM_F_ACK and waits for the kernel's answer. Any
  // non-error reply messages (an RTM_GETLINK answer) go to `on_message`.
  // A kernel error becomes errc::system naming `op` and `object`, with the
  // extended-ack text appended when the kernel gave one.
  status transact(request& req, std::string_view op, std::string_view object,
                  const message_handler& on_message = {});

  // Sends a NLM_F_DUMP request and feeds every message of every part to
  // `on_message` until NLMSG_DONE.
  // A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) fails with
  // sys_errno EINTR.
  status dump(request& req, std::string_view op, const message_handler& on_message);
  // dump() retried a few times while interrupted; `reset` runs before each
  // attempt so the caller can drop what the previous attempt collected.
  status dump_stable(request& req, std::string_view op, const std::function<void()>& reset,
                     const message_handler& on_message);

 private:
  explicit socket(mnl_socket* s);
  status exchange(request& req, std::string_view op, std::string_view object,
                  const message_handler& on_message);
  void drain();  // discards queued datagrams (late answers to a timed-out request)

  mnl_socket* sock_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  bool stale_ = false;  // a request timed out; its answer may still be queued
  std::unique_ptr<char[]> rx_;  // receive buffer, rx_size bytes
};

}  // namespace overlayd::netlink
