// The handshake worker's queue, in two bounded lanes. The priority lane
// holds what is cheap to recognise as ours on the receive thread: responses
// and cookie replies whose receiver index names a handshake we started (an
// index lookup, no crypto). Everything else (initiations from anyone: their
// sender is only known after the DH) waits in the normal lane, which a
// flood fills. pop() serves the priority lane first, so a flood of
// initiations cannot delay the handshakes of our established peers' rekeys
// we initiated, and each lane drops its newest beyond its bound. Plain data;
// the device guards it with its mutex.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>

namespace overlayd::wg {

template <class T>
class handshake_queue {
 public:
  handshake_queue(size_t normal_max, size_t priority_max) : normal_max_(normal_max), priority_max_(priority_max) {}

  // False when that lane is full (the item is dropped).
  bool push(T item, bool priority) {
    auto& q = priority ? priority_ : normal_;
    if (q.size() >= (priority ? priority_max_ : normal_max_)) return false;
    q.push_back(std::move(item));
    return true;
  }
  std::optional<T> pop() {
    auto& q = !priority_.empty() ? priority_ : normal_;
    if (q.empty()) return std::nullopt;
    T out = std::move(q.front());
    q.pop_front();
    return out;
  }
  bool empty() const noexcept { return normal_.empty() && priority_.empty(); }
  size_t normal_size() const noexcept { return normal_.size(); }
  size_t priority_size() const noexcept { return priority_.size(); }

 private:
  size_t normal_max_, priority_max_;
  std::deque<T> normal_, priority_;
};

}  // namespace overlayd::wg
