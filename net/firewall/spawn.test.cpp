#include "net/firewall/spawn.hpp"

#include <doctest/doctest.h>
#include <signal.h>

#include <thread>

using namespace overlayd;

// The daemon blocks its shutdown signals in every thread and ignores
// SIGPIPE; what it spawns must start with neither.
TEST_CASE("run_tool starts a child with an empty signal mask and default dispositions") {
  int blocked_rc = -1, ignored_rc = -1;
  std::thread t([&] {
    sigset_t s;
    sigemptyset(&s);
    for (int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP}) sigaddset(&s, sig);
    pthread_sigmask(SIG_BLOCK, &s, nullptr);
    struct sigaction old {}, ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old);
    // Exit 0 only when the child blocks nothing, and ignores none of
    // HUP(1) INT(2) QUIT(3) PIPE(13) TERM(15): bits 0x5007 of SigIgn. (glibc
    // itself keeps its internal signals 32 and 33 ignored.)
    auto b = firewall::run_tool({"sh", "-c", "grep -Eq '^SigBlk:[[:space:]]*0+$' /proc/self/status"});
    auto i = firewall::run_tool(
        {"sh", "-c", "m=$(awk '/^SigIgn/ {print $2}' /proc/self/status); [ -n \"$m\" ] && [ $(( 0x$m & 0x5007 )) -eq 0 ]"});
    sigaction(SIGPIPE, &old, nullptr);
    if (b) blocked_rc = *b;
    if (i) ignored_rc = *i;
  });
  t.join();
  CHECK(blocked_rc == 0);
  CHECK(ignored_rc == 0);
}
