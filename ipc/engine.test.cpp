#include <doctest/doctest.h>

#include <filesystem>
#include <thread>

#include "actors/observability.hpp"
#include "ipc/engine.hpp"
#include "ipc/trace_json.hpp"

using namespace overlayd;
using namespace overlayd::ipc;

namespace {
std::string temp_dir(const char* tag) {
  auto p = std::filesystem::temp_directory_path() /
           ("overlayd-engine-" + std::string(tag) + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}
}  // namespace

TEST_CASE("an allocate_ip request's trace shows gateway, allocator, gateway under one correlation id") {
  engine_config cfg;
  cfg.data_dir = temp_dir("trace");
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  auto& e = **eng;
  const uint64_t before = e.observability().ring().last_seq();
  auto r = e.call(req::allocate_ip{"web", false});
  REQUIRE(std::holds_alternative<resp::ip>(r));
  CHECK(std::get<resp::ip>(r).ip.to_string() == "10.200.0.2");

  // Other actors may record background messages (timers, correlation 0)
  // meanwhile: find this request's entry into the gateway, then its hops.
  // The gateway commits its record of the reply just after handing the
  // response over, so poll briefly (bounded).
  uint64_t corr = 0;
  std::vector<actors::trace_record> mine;
  for (int i = 0; i < 200 && mine.size() < 3; ++i) {
    for (auto& r : e.observability().ring().read(before, 1000))
      if (!corr && std::string(r.receiver) == "gateway" && trace_message_type(r) == "request:allocate_ip")
        corr = r.correlation;
    if (corr) mine = e.observability().ring().read(before, 100, corr);
    if (mine.size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(corr != 0);
  // Exactly the three hops, all under one correlation id.
  REQUIRE(mine.size() == 3);
  CHECK(std::string(mine[0].receiver) == "gateway");
  CHECK(mine[0].sender_id == 0);  // from outside the actor system
  CHECK(trace_message_type(mine[0]) == "request:allocate_ip");
  CHECK(std::string(mine[1].sender) == "gateway");
  CHECK(std::string(mine[1].receiver) == "allocator");
  CHECK(trace_message_type(mine[1]) == "alloc_ip");
  CHECK(std::string(mine[2].sender) == "allocator");
  CHECK(std::string(mine[2].receiver) == "gateway");
  CHECK(mine[2].is_response);
  CHECK(trace_message_type(mine[2]) == "reply:ip");
  CHECK(mine[0].seq < mine[1].seq);
  CHECK(mine[1].seq < mine[2].seq);
  e.stop();
  std::filesystem::remove_all(cfg.data_dir);
}

TEST_CASE("two engines run side by side in one process with separate state") {
  engine_config a_cfg, b_cfg;
  a_cfg.data_dir = temp_dir("a");
  b_cfg.data_dir = temp_dir("b");
  auto a = engine::start(a_cfg);
  auto b = engine::start(b_cfg);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto ip_of = [](const response& r) { return std::get<resp::ip>(r).ip.to_string(); };
  CHECK(ip_of((*a)->call(req::allocate_ip{"s", false})) == "10.200.0.2");
  CHECK(ip_of((*a)->call(req::allocate_ip{"s", false})) == "10.200.0.3");
  // b has its own pools: it starts from the beginning.
  CHECK(ip_of((*b)->call(req::allocate_ip{"s", false})) == "10.200.0.2");
  CHECK(std::filesystem::is_directory(a_cfg.data_dir));
  CHECK(std::filesystem::is_directory(b_cfg.data_dir));
  (*a)->stop();
  // b keeps working after a stopped.
  CHECK(ip_of((*b)->call(req::allocate_ip{"s", false})) == "10.200.0.3");
  (*b)->stop();
  std::filesystem::remove_all(a_cfg.data_dir);
  std::filesystem::remove_all(b_cfg.data_dir);
}

TEST_CASE("the engine answers invalid and post-stop calls with err") {
  engine_config cfg;
  cfg.data_dir = temp_dir("err");
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  auto& e = **eng;
  auto bad = e.call(req::setup_global_overlay{"p", "1", "10.0.0/33", std::nullopt, 51820});
  REQUIRE(std::holds_alternative<resp::err>(bad));
  CHECK(std::get<resp::err>(bad).message.find("10.0.0/33") != std::string::npos);
  // Teardown with nothing set up is a no-op, as the seed.
  CHECK(std::holds_alternative<resp::ok>(e.call(req::teardown_global_overlay{})));
  // setup_service_overlay before setup_global_overlay is served (the default
  // cluster, as the seed); the privileged tests check what it builds.
  // NAT with no global overlay: the tick is a no-op, the status the empty snapshot.
  CHECK(std::holds_alternative<resp::ok>(e.call(req::nat_tick{})));
  CHECK(e.call(req::nat_status{}) == response(resp::nat_status{}));
  // Before global setup a global-scope peer is recorded, a service-scope one refused.
  CHECK(std::holds_alternative<resp::ok>(e.call(req::add_peer{
      {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "10.0.0.1:51820", "10.200.0.2/32", 25, {}}})));
  auto svc = e.call(req::add_peer{{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "10.0.0.1:51820",
                                   "10.200.0.2/32", 25, {}},
                                  peer_scope{"web"}, true});
  REQUIRE(std::holds_alternative<resp::err>(svc));
  CHECK(std::get<resp::err>(svc).message == "no dedicated overlay for service web");
  auto mac = e.call(req::write_scoped_resolver{"overlay", *net::ip_address::parse("10.200.0.1"), std::nullopt});
  REQUIRE(std::holds_alternative<resp::err>(mac));
  CHECK(std::get<resp::err>(mac).message.find("macOS") != std::string::npos);
  CHECK(std::holds_alternative<resp::ok>(e.call(req::register_dns{"web", *net::ip_address::parse("10.200.0.9")})));
  CHECK(std::holds_alternative<resp::ok>(e.call(req::unregister_dns{"web"})));
  auto ns = e.call(req::nat_status{});
  REQUIRE(std::holds_alternative<resp::nat_status>(ns));
  CHECK(std::get<resp::nat_status>(ns).snapshot == nat_status_wire{});
  CHECK(std::holds_alternative<resp::ok>(e.call(req::shutdown{})));
  CHECK(e.shutdown_requested());
  e.stop();
  auto after = e.call(req::status{});
  REQUIRE(std::holds_alternative<resp::err>(after));
  CHECK(std::get<resp::err>(after).message.find("stopped") != std::string::npos);
  std::filesystem::remove_all(cfg.data_dir);
}

TEST_CASE("with tracing off nothing is recorded and requests still work") {
  engine_config cfg;
  cfg.data_dir = temp_dir("notrace");
  cfg.trace_enabled = false;
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  const uint64_t before = (*eng)->observability().ring().last_seq();
  CHECK(std::holds_alternative<resp::status>((*eng)->call(req::status{})));
  CHECK((*eng)->observability().ring().last_seq() == before);
  (*eng)->stop();
  std::filesystem::remove_all(cfg.data_dir);
}
