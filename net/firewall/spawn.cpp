#include "net/firewall/spawn.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>

extern char** environ;

namespace overlayd::firewall {

result<int> run_tool(const std::vector<std::string>& argv) {
  if (argv.empty()) return error(errc::invalid_argument, "run_tool: empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return system_error("spawn", argv[0], rc);

  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return system_error("wait for", argv[0], errno);
  }
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  return error(errc::system, argv[0] + " was killed by signal " +
                                 std::to_string(WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0));
}

}  // namespace overlayd::firewall
