// Small file helpers for host state. Writes go through the one atomic-write
// routine (core/atomic_file.hpp: unique temp, fsync, rename, fsync dir).
#pragma once

#include <string>
#include <string_view>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace overlayd::host {

// not_found when absent.
result<std::string> read_file(const std::string& path);
// Absent = success.
status remove_file(const std::string& path);
bool is_directory(const std::string& path);
bool path_exists(const std::string& path);
// mkdir -p with mode 0700 for the leaf.
status make_dirs(const std::string& path);

}  // namespace overlayd::host
