// Small file helpers for host state: atomic replace (temp, fsync, rename,
// fsync dir) so a crash leaves either the old or the new content.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace overlayd::host {

status write_file_atomic(const std::string& path, std::string_view content);
// not_found when absent.
result<std::string> read_file(const std::string& path);
// Absent = success.
status remove_file(const std::string& path);
bool is_directory(const std::string& path);
bool path_exists(const std::string& path);
// mkdir -p with mode 0700 for the leaf.
status make_dirs(const std::string& path);

}  // namespace overlayd::host
