#include "core/error.hpp"

#include <cstring>

namespace overlayd {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::exhausted: return "exhausted";
    case errc::not_supported: return "not_supported";
    case errc::not_implemented: return "not_implemented";
    case errc::precondition: return "precondition";
    case errc::system: return "system";
    case errc::protocol: return "protocol";
    case errc::timeout: return "timeout";
    case errc::internal: return "internal";
  }
  return "unknown";
}

error system_error(std::string_view op, std::string_view object, int err) {
  std::string msg(op);
  if (!object.empty()) {
    msg += ' ';
    msg += object;
  }
  msg += ": ";
  msg += std::strerror(err);
  return error(errc::system, std::move(msg), err);
}

}  // namespace overlayd
