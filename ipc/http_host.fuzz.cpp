// Fuzz target: the HTTP API's Host check (every request's Host header
// reaches it before any route). The first byte picks the bound address.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ipc/http_host.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* const bound[] = {"127.0.0.1", "::1", "0.0.0.0", "10.1.2.3", "fd00::7", "::"};
  auto ip = *overlayd::net::ip_address::parse(bound[data[0] % 6]);
  std::string_view host(reinterpret_cast<const char*>(data + 1), size - 1);
  (void)overlayd::ipc::host_allowed(host, ip);
  return 0;
}
