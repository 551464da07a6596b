// Fuzz target: the UAPI request framing and set parser (a trust boundary:
// any local process that can open the socket). Feeds the input to a session
// backed by a device stub, in two chunks to exercise split requests.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/wg/uapi.hpp"

namespace {
struct stub : overlayd::wg::uapi_handler {
  overlayd::wg::device_status uapi_get() override { return {}; }
  overlayd::status uapi_set(const overlayd::wg::device_update& u) override {
    // Touch what the parser produced, as a device would.
    size_t n = 0;
    for (const auto& p : u.peers) n += p.allowed_ips.size();
    return n > 1000000 ? overlayd::status(overlayd::error(overlayd::errc::internal, "")) : overlayd::status();
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)overlayd::wg::parse_uapi_set(in);
  stub s;
  overlayd::wg::uapi_session session(s);
  std::string out;
  size_t half = size / 2;
  if (session.feed(in.substr(0, half), out)) session.feed(in.substr(half), out);
  return 0;
}
