// Fuzz target: the host journal parser (a file on disk that a crashed or
// foreign process may have left in any state).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/host/journal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = overlayd::host::deserialize(text);
  if (r.ok()) {
    // Whatever parses must serialize and parse back to the same entries.
    auto again = overlayd::host::deserialize(overlayd::host::serialize(*r));
    if (!again.ok() || !(*again == *r)) __builtin_trap();
  }
  return 0;
}
