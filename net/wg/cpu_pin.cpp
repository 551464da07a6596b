#include "net/wg/cpu_pin.hpp"

#include <sched.h>

#include <atomic>

namespace overlayd::wg {

long next_cpu_slot() noexcept {
  static std::atomic<long> next{0};
  return next.fetch_add(2, std::memory_order_relaxed);
}

int pin_to_cpu_slot(long slot) noexcept {
  if (slot < 0) return -1;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
  const int n = CPU_COUNT(&allowed);
  if (n < 2) return -1;
  int want = static_cast<int>(slot % n);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed) || want-- != 0) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    // pid 0 = the calling thread only, not the whole process.
    return ::sched_setaffinity(0, sizeof one, &one) == 0 ? cpu : -1;
  }
  return -1;
}

}  // namespace overlayd::wg
