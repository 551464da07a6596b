// Logging setup shared by the mains: text or one-JSON-object-per-line.
#pragma once

#include <string>

namespace overlayd::cmd {

// level: trace|debug|info|warn|error|off; format: text|json. Returns false
// (and says why on stderr) when either is unknown.
bool setup_logging(const std::string& level, const std::string& format);

}  // namespace overlayd::cmd
