#include "net/firewall/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
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
  // A clean start: the daemon blocks SIGTERM/SIGINT/SIGQUIT/SIGHUP in every
  // thread (they go to its signal thread) and ignores SIGPIPE; a child would
  // inherit both, and then could not be stopped or would misbehave on a
  // closed pipe. Empty mask, every signal at its default action.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
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
