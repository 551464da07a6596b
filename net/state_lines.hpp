// The line framing shared by our line-oriented state files
// (net/subnet_file.hpp, net/attachment_file.hpp): every line ends in '\n';
// a last line without one is a torn write, never a record.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace overlayd::net {

// The lines of `text`, or nullopt when its last line is unterminated.
inline std::optional<std::vector<std::string_view>> split_state_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace overlayd::net
