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

#include <caf/actor_cast.hpp>
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
// (convention in messages.hpp), and the service a carried IPC request names.
// Defined in traced.cpp to keep CAF's
// type-matching machinery out of every actor's translation unit.
void describe(const caf::mailbox_element& x, trace_record& r);
}  // namespace detail

// The address a traced actor states its orderings on, from a handle to it.
template <class Handle>
const void* actor_sync(const Handle& h) {
  return caf::actor_cast<caf::abstract_actor*>(h);
}

template <class Base>
class traced : public Base {
 public:
  template <class... Ts>
  traced(caf::actor_config& cfg, observability* obs, const char* name, Ts&&... xs)
      : Base(cfg, std::forward<Ts>(xs)...), obs_(obs), name_(name), stats_(obs->stats_for(name)) {}

  // Called by spawn on the spawner's thread once the most derived
  // constructor is done: all of construction happens before the first run.
  void launch(caf::execution_unit* eu, bool lazy, bool hide) override {
    tsan::happens_before(tsan_sync());
    Base::launch(eu, lazy, hide);
  }

  const char* name() const override { return name_; }

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    stats_->mailbox.fetch_add(1, std::memory_order_relaxed);
    if (ptr) tsan::happens_before(ptr.get());  // the sender's writes, before the handler's reads
    Base::enqueue(std::move(ptr), eu);
    // The sender held a reference to this actor (and called through its
    // vtable) until here; CAF's reference count orders that before the
    // destructor, on a line of its own so that handlers do not inherit it.
    tsan::happens_before(tsan_lifetime());
  }

  void initialize() override {
    tsan::happens_after(tsan_sync());
    Base::initialize();
    tsan::happens_before(tsan_sync());
  }

  bool cleanup(caf::error&& fail_state, caf::execution_unit* host) override {
    tsan::happens_after(tsan_sync());
    bool r = Base::cleanup(std::move(fail_state), host);
    tsan::happens_before(tsan_sync());
    return r;
  }

  // Runs right before the destructor, on whichever thread dropped the last
  // reference (CAF's reference count is in libcaf_core.so too).
  void on_destroy() override {
    tsan::happens_after(tsan_sync());
    tsan::happens_after(tsan_lifetime());
    Base::on_destroy();
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    tsan::happens_after(&x);
    tsan::happens_after(tsan_sync());
    auto res = consume_traced(x);
    tsan::happens_before(tsan_sync());
    // The trace read the sender (its vtable, its name) under the strong
    // reference x holds: before the sender's destructor, like enqueue.
    if (x.sender) tsan::happens_before(static_cast<const char*>(tsan_sync_of(x.sender->get())) + 1);
    return res;
  }

 protected:
  observability& obs() noexcept { return *obs_; }

  // For a handler whose reply a blocking caller (caf::scoped_actor) reads:
  // call it once the reply is built (e.g. a caf::result made, not yet
  // returned), and have the caller call tsan::happens_after(actor_sync(hdl))
  // before it reads the reply. CAF hands replies to a blocking actor through
  // an inbox TSan cannot see.
  void reply_built() { tsan::happens_before(tsan_sync()); }

 private:
  // The address every ordering of this actor is stated on (actor_sync()).
  const void* tsan_sync() const { return static_cast<const caf::abstract_actor*>(this); }
  const void* tsan_lifetime() const { return static_cast<const char*>(tsan_sync()) + 1; }
  static const void* tsan_sync_of(const caf::abstract_actor* a) { return a; }

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
    if (res != caf::invoke_message_result::skipped) ring.commit(std::move(r));  // a skipped seq stays a gap
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
