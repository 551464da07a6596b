// A test-only program (build-tsan: tests/tsan_canary) that shows what
// tests/tsan.supp and the mailbox annotations (actors/traced.hpp) hide and
// what they do not. Every mode but `clean` has one unsynchronised access of
// ours on purpose; ThreadSanitizer must report it with the suppressions
// loaded, in our own frames:
//
//   thread   two std::threads bump a plain int (no CAF anywhere)
//   actors   two traced actors bump the same int on CAF's worker threads:
//            our frames on top, CAF's scheduler (libcaf_core.so) below,
//            on threads libcaf_core.so created
//   message  a traced actor reads a value the sender goes on writing after
//            it sent the pointer (a real race through a mailbox)
//   state    a thread outside the actor reads a member the actor's handler
//            writes (actor state shared without a message)
//   clean    the same actors, messages and replies with no race of ours:
//            everything left is CAF's, so with the suppressions TSan must
//            report nothing
//
// tests/tsan_actor_check.sh runs every mode. Exit status 66 = TSan reported.
#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "actors/traced.hpp"

using namespace overlayd::actors;

namespace {

int racy_counter = 0;  // ours, unsynchronised on purpose

__attribute__((noinline)) void bump_ours() { racy_counter = racy_counter + 1; }

struct shared_box {
  int value = 0;
};

class bumper : public traced<caf::event_based_actor> {
 public:
  bumper(caf::actor_config& cfg, observability* obs, bool racy) : traced(cfg, obs, "bumper"), racy_(racy) {}
  caf::behavior make_behavior() override {
    return {
        [this](int n) -> int {
          for (int i = 0; i < n; ++i) {
            if (racy_) bump_ours();
            ++handled_;  // its own state: ordered by the mailbox annotations
          }
          return handled_;
        },
        [this](uintptr_t p) -> int {  // reads a box it was sent a pointer to
          auto* box = reinterpret_cast<shared_box*>(p);
          int seen = 0;
          for (int i = 0; i < 1000; ++i) seen += box->value;
          last_seen = seen;
          return seen;
        },
        [this](std::string s) -> std::string {  // a message with heap contents
          words_.push_back(s);
          return s + "!";
        },
    };
  }
  int last_seen = 0;  // read from outside in `state` mode

 private:
  bool racy_;
  int handled_ = 0;
  std::vector<std::string> words_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "thread") {
    std::thread a([] {
      for (int i = 0; i < 1000; ++i) bump_ours();
    });
    std::thread b([] {
      for (int i = 0; i < 1000; ++i) bump_ours();
    });
    a.join();
    b.join();
    std::printf("racy_counter=%d\n", racy_counter);
    return 0;
  }
  if (mode != "actors" && mode != "message" && mode != "state" && mode != "clean") {
    std::fprintf(stderr, "usage: tsan_canary thread|actors|message|state|clean\n");
    return 2;
  }
  observability obs(256);
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys(cfg);
  caf::scoped_actor self(sys);
  auto wait_reply = [&](auto... xs) {
    self->receive(xs..., [](caf::error&) {});
  };
  if (mode == "actors" || mode == "clean") {
    const bool racy = mode == "actors";
    auto a = sys.spawn<bumper>(&obs, racy), b = sys.spawn<bumper>(&obs, racy);
    for (int round = 0; round < 20; ++round) {
      self->send(a, 1000);
      self->send(b, 1000);
      self->send(a, std::string("w") + std::to_string(round));
      for (int k = 0; k < 3; ++k) wait_reply([](int) {}, [](std::string&) {});
    }
    // Actor to actor, with replies: a asks b.
    for (int round = 0; round < 20; ++round) {
      self->request(a, std::chrono::seconds(5), std::string("x")).receive([](std::string&) {}, [](caf::error&) {});
      self->request(b, std::chrono::seconds(5), 10).receive([](int) {}, [](caf::error&) {});
    }
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->send_exit(b, caf::exit_reason::user_shutdown);
  } else if (mode == "message") {
    auto r = sys.spawn<bumper>(&obs, false);
    shared_box box;
    self->send(r, reinterpret_cast<uintptr_t>(&box));
    for (int i = 0; i < 100000; ++i) box.value = i;  // after the send: racing the reader
    wait_reply([](int) {});
    self->send_exit(r, caf::exit_reason::user_shutdown);
  } else {  // state
    auto actor = sys.spawn<bumper>(&obs, false);
    shared_box box;
    auto* raw = dynamic_cast<bumper*>(caf::actor_cast<caf::abstract_actor*>(actor));
    self->send(actor, reinterpret_cast<uintptr_t>(&box));
    int peeked = 0;
    for (int i = 0; i < 100000; ++i) peeked += raw->last_seen;  // no message orders this
    wait_reply([](int) {});
    std::printf("peeked=%d\n", peeked);
    self->send_exit(actor, caf::exit_reason::user_shutdown);
  }
  std::printf("racy_counter=%d\n", racy_counter);
  return 0;
}
