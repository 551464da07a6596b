// traced<Base>: what one actor's messages leave in the trace ring.
#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <chrono>

#include "actors/messages.hpp"
#include "actors/traced.hpp"

using namespace overlayd::actors;

namespace {
using ping_atom = caf::atom_constant<caf::atom("t_ping")>;
using self_atom = caf::atom_constant<caf::atom("t_self")>;

// Answers a ping after sending itself three messages (as a timer would).
class echo : public traced<caf::event_based_actor> {
 public:
  echo(caf::actor_config& cfg, observability* obs) : traced(cfg, obs, "echo") {}
  caf::behavior make_behavior() override {
    return {
        [this](ping_atom, uint64_t c) -> uint64_t {
          for (int i = 0; i < 3; ++i) send(this, self_atom::value, uint32_t{1});
          return c;
        },
        [this](self_atom, uint32_t) { ++self_seen; },
    };
  }
  int self_seen = 0;
};
}  // namespace

TEST_CASE("a request to a traced actor is recorded; the actor's messages to itself are not") {
  observability obs(1024);
  {
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    auto a = sys.spawn<echo>(&obs);
    caf::scoped_actor self{sys};
    uint64_t got = 0;
    self->request(a, std::chrono::seconds(5), ping_atom::value, uint64_t{42})
        .receive([&](uint64_t c) { got = c; }, [&](caf::error&) {});
    CHECK(got == 42);
    // The self messages were sent before the reply; send one more request
    // so they have certainly been handled before we read the ring.
    self->request(a, std::chrono::seconds(5), ping_atom::value, uint64_t{43})
        .receive([&](uint64_t c) { got = c; }, [&](caf::error&) {});
    CHECK(got == 43);
    // The first ping and the three self messages are counted by now (the
    // second ping's count may still be on its way: it is bumped after the
    // handler returns, which is after its reply went out).
    CHECK(obs.stats_for("echo")->handled.load() >= 1 + 3);
    self->send_exit(a, caf::exit_reason::user_shutdown);
  }
  auto recs = obs.ring().read(0, 1024);
  int to_echo = 0;
  for (auto& r : recs) {
    if (std::string(r.receiver) != "echo") continue;
    ++to_echo;
    CHECK(r.sender_id != r.receiver_id);
  }
  CHECK(to_echo >= 2);  // both pings (and possibly the exit message)
}

TEST_CASE("a hop that carries a request records the service the request names") {
  using namespace overlayd;
  auto described = [](auto&&... xs) {
    auto m = caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, std::forward<decltype(xs)>(xs)...);
    trace_record r;
    detail::describe(*m, r);
    return r;
  };
  // The supervisor's hop: (serve, correlation, request).
  auto r = described(serve_atom::value, correlation_id{7}, ipc::request{ipc::req::setup_service_overlay{"web"}});
  CHECK(r.correlation == 7);
  CHECK(r.service == "web");
  CHECK(r.op_index == static_cast<int>(ipc::request{ipc::req::setup_service_overlay{}}.index()));
  // The gateway's hop: (request, correlation, inbound_call).
  ipc::req::attach_container attach;
  attach.service = "a-service-name-longer-than-fifteen-bytes";
  r = described(request_atom::value, correlation_id{8}, inbound_call{ipc::request{attach}, {}});
  CHECK(r.service == attach.service);
  // A peer op names the service of its scope; a global one names none.
  ipc::req::add_peer scoped;
  scoped.scope.service = "db";
  CHECK(described(serve_atom::value, correlation_id{9}, ipc::request{scoped}).service == "db");
  CHECK(described(serve_atom::value, correlation_id{9}, ipc::request{ipc::req::add_peer{}}).service.empty());
  ipc::req::remove_allowed_ip scoped_rm;
  scoped_rm.scope.service = "db";
  CHECK(described(serve_atom::value, correlation_id{9}, ipc::request{scoped_rm}).service == "db");
  CHECK(described(serve_atom::value, correlation_id{9}, ipc::request{ipc::req::teardown_service_overlay{"api"}})
            .service == "api");
  // The allocator's hop of allocate_ip carries the bare request.
  CHECK(described(alloc_ip_atom::value, correlation_id{10}, ipc::req::allocate_ip{"web", false}).service == "web");
  // Requests that name no service, and messages without a request.
  CHECK(described(serve_atom::value, correlation_id{11}, ipc::request{ipc::req::status{}}).service.empty());
  CHECK(described(serve_atom::value, correlation_id{11}, ipc::request{ipc::req::detach_container{}}).service.empty());
  CHECK(described(sweep_atom::value).service.empty());
}
