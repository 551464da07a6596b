// Happens-before edges ThreadSanitizer cannot see by itself, for
// synchronisation done inside code that is not built with TSan (Debian's
// CAF: its mailboxes and its scheduler's hand-off of an actor between worker
// threads are lock-free queues in libcaf_core.so). Each call states an
// ordering the library really provides; none hides an access. No-ops unless
// the build is -fsanitize=thread.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define OVERLAYD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OVERLAYD_TSAN 1
#endif
#endif

#ifdef OVERLAYD_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace overlayd::tsan {

// What this thread did so far happens before whatever a later
// happens_after(`sync`) is followed by (on any thread).
inline void happens_before([[maybe_unused]] const void* sync) noexcept {
#ifdef OVERLAYD_TSAN
  __tsan_release(const_cast<void*>(sync));
#endif
}

inline void happens_after([[maybe_unused]] const void* sync) noexcept {
#ifdef OVERLAYD_TSAN
  __tsan_acquire(const_cast<void*>(sync));
#endif
}

}  // namespace overlayd::tsan
