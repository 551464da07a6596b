#include "net/host/data_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "net/host/files.hpp"

namespace overlayd::host {

status prepare_data_dir(const std::string& dir) {
  if (dir.empty()) return error(errc::invalid_argument, "data dir: empty path");
  OVERLAYD_TRY(make_dirs(dir));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return system_error("stat data dir", dir, errno);
  if (S_ISLNK(st.st_mode)) {
    // Follow one symlink (e.g. /var/lib/overlayd -> /srv/...) but check what
    // it points at.
    if (::stat(dir.c_str(), &st) != 0) return system_error("stat data dir", dir, errno);
  }
  if (!S_ISDIR(st.st_mode))
    return error(errc::invalid_argument, "data dir " + dir + " is not a directory");
  const uid_t me = ::geteuid();
  if (st.st_uid != me)
    return error(errc::precondition,
                 "data dir " + dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by this daemon (uid " +
                     std::to_string(me) + "); its host journal is replayed as that uid. Fix: chown " +
                     std::to_string(me) + " " + dir + " (after checking its content), or use another --data-dir");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return error(errc::precondition, "data dir " + dir + " is group- or world-writable (mode " +
                                         std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                                         std::to_string(st.st_mode & 7) +
                                         "); anyone could plant a journal entry. Fix: chmod go-w " + dir);
  return {};
}

result<data_dir_lock> data_dir_lock::acquire(const std::string& dir) {
  const std::string path = dir + "/lock";
  // O_CLOEXEC: a spawned helper must not keep the lock alive after we die.
  unique_fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)};
  if (!fd) return system_error("open lock file", path, errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return system_error("flock", path, errno);
    std::string holder = "an unknown process";
    if (auto text = read_file(path); text && !text->empty())
      holder = "pid " + text->substr(0, text->find('\n'));
    return error(errc::already_exists, "another overlayd (" + holder + ") holds " + path +
                                           "; one daemon per data dir. This one changed nothing and exits.");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // In place, not by rename: the lock belongs to this inode.
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    return system_error("write pid to", path, errno);
  return data_dir_lock(path, std::move(fd));
}

}  // namespace overlayd::host
