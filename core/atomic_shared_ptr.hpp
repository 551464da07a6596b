// A shared_ptr that one thread replaces while others copy it: the packet
// paths' way of reading the current immutable state (the WireGuard device's
// snapshot, socket and hooks; the relay routes).
//
// Not std::atomic<std::shared_ptr<T>>: GCC 12's (libstdc++'s _Sp_atomic)
// guards the pointer with a lock bit but releases that bit after a load()
// with memory_order_relaxed, so the reader's copy of the pointer does not
// happen-before the next store()'s overwrite of it. ThreadSanitizer reports
// that as a data race, and under the C++ memory model it is one. This is the
// same design (a spin lock held for a pointer copy and a reference-count
// increment, never across a call into T) with the lock released with
// release order. The old value is destroyed outside the lock.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <utility>

namespace overlayd {

template <class T>
class atomic_shared_ptr {
 public:
  atomic_shared_ptr() noexcept = default;
  explicit atomic_shared_ptr(std::shared_ptr<T> p) noexcept : p_(std::move(p)) {}
  atomic_shared_ptr(const atomic_shared_ptr&) = delete;
  atomic_shared_ptr& operator=(const atomic_shared_ptr&) = delete;

  std::shared_ptr<T> load() const noexcept {
    guard g(busy_);
    return p_;
  }
  void store(std::shared_ptr<T> p) noexcept { (void)exchange(std::move(p)); }
  std::shared_ptr<T> exchange(std::shared_ptr<T> p) noexcept {
    {
      guard g(busy_);
      p_.swap(p);
    }
    return p;  // the old value, released by the caller outside the lock
  }

 private:
  struct guard {
    std::atomic<bool>& b;
    explicit guard(std::atomic<bool>& flag) noexcept : b(flag) {
      for (unsigned spins = 0; b.exchange(true, std::memory_order_acquire);) {
        // The holder only copies a pointer: spin briefly, then let it run.
        while (b.load(std::memory_order_relaxed))
          if (++spins > 64) std::this_thread::yield();
      }
    }
    ~guard() { b.store(false, std::memory_order_release); }
  };

  mutable std::atomic<bool> busy_{false};
  std::shared_ptr<T> p_;
};

}  // namespace overlayd
