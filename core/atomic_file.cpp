#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <vector>

#include "core/unique_fd.hpp"

namespace overlayd {

namespace {

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

status fsync_dir(const std::string& dir) {
  unique_fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (!d) return system_error("open directory", dir, errno);
  if (::fsync(d.get()) != 0) return system_error("fsync directory", dir, errno);
  return {};
}

}  // namespace

status write_file_atomic(const std::string& path, std::string_view bytes, mode_t mode) {
  if (path.empty()) return error(errc::invalid_argument, "write_file_atomic: empty path");
  // Unique per writer: two writers of one file never share a temp (the old
  // fixed "<path>.tmp" let two of them tear each other's content).
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  unique_fd f{::mkostemp(name.data(), O_CLOEXEC | O_NOFOLLOW)};
  if (!f) return system_error("create temp for", path, errno);
  const std::string tmp(name.data());
  auto fail = [&](const char* op, int e) {
    ::unlink(tmp.c_str());
    return system_error(op, tmp, e);
  };
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(f.get(), bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(f.get(), mode) != 0) return fail("chmod", errno);
  // ENOSPC on a delayed allocation surfaces here, before the rename: the old
  // file stays whole.
  if (::fsync(f.get()) != 0) return fail("fsync", errno);
  if (::close(f.release()) != 0) return fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename", errno);
  // The rename is durable only once the directory entry is.
  return fsync_dir(dir_of(path));
}

result<std::string> read_file_nofollow(const std::string& path) {
  unique_fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (!f) {
    if (errno == ENOENT) return error(errc::not_found, path + " does not exist");
    if (errno == ELOOP) return error(errc::invalid_argument, path + " is a symlink; refusing to follow it");
    return system_error("open", path, errno);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return system_error("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

result<std::string> quarantine_file(const std::string& path) {
  const std::string base = path + ".corrupt-" + std::to_string(static_cast<long long>(::time(nullptr)));
  for (int i = 0; i < 1000; ++i) {
    const std::string aside = i == 0 ? base : base + "-" + std::to_string(i);
    // renameat2(RENAME_NOREPLACE): an earlier quarantine is never overwritten.
    if (::renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, aside.c_str(), RENAME_NOREPLACE) == 0) {
      (void)fsync_dir(dir_of(path));
      return aside;
    }
    if (errno != EEXIST) return system_error("move aside", path, errno);
  }
  return error(errc::exhausted, "move aside " + path + ": too many quarantined copies");
}

}  // namespace overlayd
