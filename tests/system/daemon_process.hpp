// Starts the real build/overlayd as a child process for a test and makes sure
// it is gone (SIGKILL) when the test ends, whatever happens.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace overlayd::testing {

class daemon_process {
 public:
  // data dir and socket are unique per test; extra args appended.
  explicit daemon_process(const std::string& tag, std::vector<std::string> extra = {}) {
    dir_ = std::filesystem::temp_directory_path() /
           ("overlayd-st-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    socket_ = (dir_ / "ipc.sock").string();
    std::vector<std::string> args = {OVERLAYD_BIN, "--data-dir", dir_.string(), "--socket",
                                     socket_, "--log-level", "warn"};
    bool has_http = false;
    for (auto& e : extra) has_http |= e == "--http";
    if (!has_http) {
      args.push_back("--http");
      args.push_back("off");
    }
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Ready when the socket exists (bounded: 10 s).
    for (int i = 0; i < 1000 && !std::filesystem::exists(socket_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~daemon_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  const std::string& socket() const { return socket_; }
  std::filesystem::path dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  // Sends `sig` and waits (bounded) for the exit; returns the exit code, or
  // -1 when it did not exit normally in time.
  int signal_and_wait(int sig, std::chrono::seconds limit = std::chrono::seconds(10)) {
    ::kill(pid_, sig);
    return wait(limit);
  }
  int wait(std::chrono::seconds limit = std::chrono::seconds(10)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  std::filesystem::path dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

}  // namespace overlayd::testing
