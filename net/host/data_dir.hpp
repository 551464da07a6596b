// The data dir: where the host journal, the marker and the HTTP token live.
// Everything in it is replayed or trusted as root, so before anything reads
// it the daemon checks who may have written it, and takes the one lock that
// makes it the only daemon working from it.
//
//   prepare_data_dir   creates it (0700) when absent; refuses one that is not
//                      a directory, not owned by our uid, or group/world-
//                      writable, with the command that fixes it.
//   data_dir_lock      flock(LOCK_EX|LOCK_NB) on <data_dir>/lock, held for the
//                      life of the daemon (the kernel drops it when the
//                      process dies, kill -9 included). The holder writes its
//                      pid into the file, so a second daemon can name it.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/error.hpp"
#include "core/unique_fd.hpp"

namespace overlayd::host {

status prepare_data_dir(const std::string& dir);

class data_dir_lock {
 public:
  // already_exists (naming the holder's pid) when another process holds it.
  static result<data_dir_lock> acquire(const std::string& dir);

  data_dir_lock(data_dir_lock&&) noexcept = default;
  data_dir_lock& operator=(data_dir_lock&&) noexcept = default;
  const std::string& path() const noexcept { return path_; }

 private:
  data_dir_lock(std::string path, unique_fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  unique_fd fd_;  // the lock lives as long as this fd is open
};

}  // namespace overlayd::host
