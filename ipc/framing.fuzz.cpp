// Fuzz target: the IPC frame decoder (any local process that can open the
// socket writes these bytes). The input is fed in chunks whose sizes come
// from the input itself, so frames split at every possible point.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ipc/framing.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  // A small cap so oversize headers are reached; the real one is 8 MiB.
  overlayd::ipc::frame_decoder d(4096);
  for (size_t off = 0; off < in.size(); off += step) {
    if (!d.feed(in.substr(off, step))) break;
    while (auto f = d.pop()) {
      if (f->size() > 4096) __builtin_trap();  // the cap must hold
    }
  }
  (void)d.at_boundary();
  return 0;
}
