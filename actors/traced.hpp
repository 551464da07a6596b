// traced<Base>: the mixin that records every message an actor consumes into
// the engine's trace ring and keeps the actor's mailbox depth for /metrics.
//
// CAF 0.17 (as Debian builds it) has its own logging compiled out, so tracing
// is ours: scheduled_actor::enqueue and ::consume are virtual, and wrapping
// them sees every message, including responses and system messages.
//
// The same two places tell ThreadSanitizer (core/tsan.hpp) what CAF's
// uninstrumented mailbox guarantees: everything a sender did before it
// enqueued a message happens before the handler that consumes it; and what
// CAF's scheduler guarantees: one handler of an actor at a time, each after
// the previous one, whichever worker thread runs it. Without them every
// message is a false data race (docs/operations.md, "Sanitizer builds").
#pragma once

#include <caf/actor_config.hpp>
#include <caf/invoke_message_result.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/monitorable_actor.hpp>

#include <atomic>
#include <memory>
#include <utility>

#include "actors/observability.hpp"
#include "core/tsan.hpp"
#include "actors/trace.hpp"

namespace overlayd::actors {

namespace detail {
// Reads the correlation id, atom and IPC payload kinds out of a message
// (convention in messages.hpp). Defined in traced.cpp to keep CAF's
// type-matching machinery out of every actor's translation unit.
void describe(const caf::mailbox_element& x, trace_record& r);
}  // namespace detail

template <class Base>
class traced : public Base {
 public:
  template <class... Ts>
  traced(caf::actor_config& cfg, observability* obs, const char* name, Ts&&... xs)
      : Base(cfg, std::forward<Ts>(xs)...), obs_(obs), name_(name), stats_(obs->stats_for(name)) {}

  // Called by spawn on the spawner's thread once the most derived
  // constructor is done: all of construction happens before the first run.
  void launch(caf::execution_unit* eu, bool lazy, bool hide) override {
    tsan::happens_before(this);
    Base::launch(eu, lazy, hide);
  }

  const char* name() const override { return name_; }

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    stats_->mailbox.fetch_add(1, std::memory_order_relaxed);
    if (ptr) tsan::happens_before(ptr.get());  // the sender's writes, before the handler's reads
    Base::enqueue(std::move(ptr), eu);
  }

  void initialize() override {
    tsan::happens_after(this);
    Base::initialize();
    tsan::happens_before(this);
  }

  bool cleanup(caf::error&& fail_state, caf::execution_unit* host) override {
    tsan::happens_after(this);
    bool r = Base::cleanup(std::move(fail_state), host);
    tsan::happens_before(this);
    return r;
  }

  // Runs right before the destructor, on whichever thread dropped the last
  // reference (CAF's reference count is in libcaf_core.so too).
  void on_destroy() override {
    tsan::happens_after(this);
    Base::on_destroy();
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    tsan::happens_after(&x);
    tsan::happens_after(this);
    auto res = consume_traced(x);
    tsan::happens_before(this);
    return res;
  }

 protected:
  observability& obs() noexcept { return *obs_; }

 private:
  caf::invoke_message_result consume_traced(caf::mailbox_element& x) {
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
    if (res != caf::invoke_message_result::skipped) ring.commit(r);  // a skipped seq stays a gap
    return finish(res);
  }

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
