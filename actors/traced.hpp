// traced<Base>: the mixin that records every message an actor consumes into
// the engine's trace ring and keeps the actor's mailbox depth for /metrics.
//
// CAF 0.17 (as Debian builds it) has its own logging compiled out, so tracing
// is ours: scheduled_actor::enqueue and ::consume are virtual, and wrapping
// them sees every message, including responses and system messages.
#pragma once

#include <caf/actor_config.hpp>
#include <caf/invoke_message_result.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/monitorable_actor.hpp>

#include <atomic>
#include <memory>
#include <utility>

#include "actors/observability.hpp"
#include "actors/trace.hpp"

namespace overlayd::actors {

namespace detail {
// Reads the correlation id, atom and IPC payload kinds out of a message
// (convention in messages.hpp), and the service a carried IPC request names.
// Defined in traced.cpp to keep CAF's
// type-matching machinery out of every actor's translation unit.
void describe(const caf::mailbox_element& x, trace_record& r);
}  // namespace detail

template <class Base>
class traced : public Base {
 public:
  template <class... Ts>
  traced(caf::actor_config& cfg, observability* obs, const char* name, Ts&&... xs)
      : Base(cfg, std::forward<Ts>(xs)...), obs_(obs), name_(name), stats_(obs->stats_for(name)) {}

  const char* name() const override { return name_; }

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    stats_->mailbox.fetch_add(1, std::memory_order_relaxed);
    Base::enqueue(std::move(ptr), eu);
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    trace_ring& ring = obs_->ring();
    if (!ring.enabled()) return finish(Base::consume(x));
    // An actor's messages to itself (its timers: the NAT poll runs at 10 Hz)
    // are not between actors; recording them would flush requests out of
    // the ring. They still count in the mailbox stats.
    if (x.sender && x.sender->id() == this->id()) return finish(Base::consume(x));
    trace_record r;
    r.seq = ring.reserve();
    r.mono_ns = trace_ring::now_ns();
    if (x.sender) {
      r.sender_id = x.sender->id();
      if (auto* m = dynamic_cast<const caf::monitorable_actor*>(x.sender->get())) r.sender = m->name();
    }
    r.receiver_id = this->id();
    r.receiver = name_;
    r.is_response = x.mid.is_response();
    detail::describe(x, r);
    auto res = Base::consume(x);
    r.handling_ns = trace_ring::now_ns() - r.mono_ns;
    if (res != caf::invoke_message_result::skipped) ring.commit(std::move(r));  // a skipped seq stays a gap
    return finish(res);
  }

 protected:
  observability& obs() noexcept { return *obs_; }

 private:
  caf::invoke_message_result finish(caf::invoke_message_result res) {
    if (res != caf::invoke_message_result::skipped) {
      stats_->mailbox.fetch_sub(1, std::memory_order_relaxed);
      stats_->handled.fetch_add(1, std::memory_order_relaxed);
    }
    return res;
  }

  observability* obs_;
  const char* name_;
  std::shared_ptr<actor_stats> stats_;
};

}  // namespace overlayd::actors
