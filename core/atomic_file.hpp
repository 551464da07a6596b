// The one way overlayd writes a state file (host journal, network marker,
// HTTP token, subnet assignments): a crash, a full disk or a second writer
// leaves either the old content or the new, never half of one, and never a
// file reached through a symlink someone planted.
//
//   write_file_atomic: a unique temp beside the target (mkostemp, O_NOFOLLOW,
//   O_EXCL), write, fsync, chmod, rename over the target, fsync the directory.
//   On any failure the temp is removed and the target is untouched.
//
//   quarantine_file: a file that failed to parse is renamed aside to
//   `<path>.corrupt-<unixtime>` (never overwritten, never deleted), so an
//   operator can look at it and the next write starts a fresh file.
//
// Not a lock: callers serialise each file's read-modify-write themselves
// (one owner per file; see ipc/marker_store.hpp, host::mutator).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace overlayd {

status write_file_atomic(const std::string& path, std::string_view bytes, mode_t mode = 0600);

// Reads a whole regular file without following a symlink at `path`.
// not_found when absent.
result<std::string> read_file_nofollow(const std::string& path);

// Renames `path` to `<path>.corrupt-<unixtime>` (a `-N` suffix when that
// exists already) and returns the new path.
result<std::string> quarantine_file(const std::string& path);

}  // namespace overlayd
