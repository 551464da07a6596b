// libFuzzer target: decode_frame on arbitrary bytes (the socket's trust
// boundary). Beyond "no crash, no throw", it checks the codec's own laws:
//   decode(encode(x)) == x  and  encode(decode(encode(x))) == encode(x)
// and runs validate() on every decoded request. The codec sources are linked
// into this target (see ipc/meson.build) so they carry coverage.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ipc/codec.hpp"
#include "ipc/validate.hpp"

using namespace overlayd::ipc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto f = decode_frame(text);
  auto in = decode_request_frame(text);
  if (in && in->body) (void)validate(in->body.value());
  if (!f) return 0;

  std::string once = encode_frame(*f);
  auto back = decode_frame(once);
  if (!back || !(*back == *f)) std::abort();  // encode produced something decode disagrees with
  if (encode_frame(*back) != once) std::abort();  // encoding is not a fixed point
  return 0;
}
