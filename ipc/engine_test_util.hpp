// Helpers for tests that drive a whole engine (test-only header).
//
// Privileged cases run the engine in a network namespace of their own: a
// thread unshares CLONE_NEWNET and starts the engine there, so every thread
// the engine spawns, every nft and sysctl write it makes, lives in that
// namespace and the host is never touched. "Containers" are forked children
// that unshare a network namespace of their own and wait to be killed.
#pragma once

#include <doctest/doctest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <linux/close_range.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "ipc/engine.hpp"

namespace overlayd::ipc::testing {

inline std::string temp_dir(const std::string& tag) {
  auto p = std::filesystem::temp_directory_path() /
           ("overlayd-" + tag + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

// Output of a shell command run from the calling thread's namespace.
inline std::string sh(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

inline bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// Runs `body` on a thread inside a fresh network namespace (root only).
inline void in_private_netns(const std::function<void()>& body) {
  bool entered = false;
  std::exception_ptr thrown;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) return;
    entered = true;
    (void)sh("ip link set lo up 2>&1");
    // Whatever the body throws (a failed REQUIRE, or anything else) is
    // carried to the test's own thread and rethrown there, so doctest
    // counts it as a failure instead of losing it with the thread.
    try {
      body();
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  t.join();
  CHECK(entered);
  if (thrown) std::rethrow_exception(thrown);
}

// An engine with a temp data dir and UAPI dir of its own; stopped and its
// directories removed on scope exit.
struct scoped_engine {
  engine_config cfg;
  std::unique_ptr<engine> eng;
  explicit scoped_engine(const std::string& tag) {
    cfg.data_dir = temp_dir(tag);
    cfg.uapi_dir = cfg.data_dir + "/uapi";
    std::filesystem::create_directories(cfg.uapi_dir);
    auto e = engine::start(cfg);
    REQUIRE_MESSAGE(e.ok(), (e.ok() ? "" : e.err().message));
    eng = std::move(e).value();
  }
  ~scoped_engine() {
    if (eng) eng->stop();
    std::filesystem::remove_all(cfg.data_dir);
  }
  response call(request r) { return eng->call(std::move(r)); }
  status_snapshot status() {
    auto r = eng->call(req::status{});
    REQUIRE(std::holds_alternative<resp::status>(r));
    return std::get<resp::status>(r).snapshot;
  }
};

inline std::string err_of(const response& r) {
  auto* e = std::get_if<resp::err>(&r);
  return e ? e->message : std::string("<not an err: ") + result_name(r) + ">";
}

// A process in a network namespace of its own (a "container"); killed and
// reaped on scope exit.
struct container_process {
  pid_t pid = -1;
  container_process() {
    struct stat own {};
    ::stat("/proc/thread-self/ns/net", &own);
    pid = ::fork();
    if (pid == 0) {
      // Drop every inherited fd: a TUN fd of the engine kept open here
      // would keep its device alive past the engine's teardown.
      ::close_range(3, ~0U, 0);
      if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
      for (;;) ::pause();
    }
    REQUIRE(pid > 0);
    // Bounded wait until the child is in its own namespace.
    const std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
    for (int i = 0; i < 500; ++i) {
      struct stat st {};
      if (::stat(ns.c_str(), &st) == 0 && st.st_ino != own.st_ino) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    FAIL("container process never entered its own network namespace");
  }
  ~container_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  // Runs a command inside the container's namespace.
  std::string exec(const std::string& cmd) const {
    return sh("nsenter -t " + std::to_string(pid) + " -n " + cmd + " 2>&1");
  }
};

}  // namespace overlayd::ipc::testing
