// Fuzz target: the dedicated-mode marker file parser (a file on disk that a
// crash may have truncated, or another process may have written).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ipc/marker.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string warning;
  auto m = overlayd::ipc::network_marker::parse(
      std::string_view(reinterpret_cast<const char*>(data), size), &warning);
  (void)m;
  return 0;
}
