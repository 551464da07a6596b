// System tests of the real build/overlayd over its Unix socket and HTTP API.
// No host networking is touched: these are the parts of the daemon that need
// none (issue 2). Each test starts its own daemon with its own data dir.
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "ipc/client.hpp"
#include "ipc/codec.hpp"
#include "ipc/framing.hpp"
#include "ipc/unix_server.hpp"
#include "tests/system/daemon_process.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
using overlayd::testing::daemon_process;

namespace {
std::unique_ptr<client> connect_to(const daemon_process& d) {
  auto c = client::connect(d.socket(), std::chrono::seconds(10));
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.err().message));
  return std::move(c).value();
}

response must_call(client& c, const request& r) {
  auto got = c.call(r);
  REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.err().message));
  return std::move(got).value();
}

std::string err_of(const response& r) {
  auto* e = std::get_if<resp::err>(&r);
  return e ? e->message : std::string("<not an err: ") + result_name(r) + ">";
}

uint16_t free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Writes raw bytes (a hand-made frame) on the client's socket.
void write_raw(int fd, const std::string& bytes) {
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
}
}  // namespace

TEST_CASE("a fresh daemon reports an empty status, exactly as the contract encodes it") {
  daemon_process d("fresh");
  auto c = connect_to(d);
  auto r = must_call(*c, req::status{});
  CHECK(encode_response(r) == R"({"result":"status","peer_count":0,"service_count":0})");
  CHECK(std::holds_alternative<resp::ok>(must_call(*c, req::set_local_node_id{7})));
  CHECK(std::holds_alternative<resp::ok>(must_call(*c, req::set_local_wg_pubkey{
                                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})));
}

TEST_CASE("allocate and release round trip over the socket, as the seed's test") {
  daemon_process d("alloc");
  auto c = connect_to(d);
  auto ip = [&](const response& r) { return std::get<resp::ip>(r).ip; };
  auto a = ip(must_call(*c, req::allocate_ip{"svc", false}));
  auto b = ip(must_call(*c, req::allocate_ip{"svc", false}));
  CHECK(a != b);
  CHECK(a.to_string() == "10.200.0.2");  // .1 is the node's
  CHECK(std::holds_alternative<resp::ok>(must_call(*c, req::release_ip{a})));
  CHECK(ip(must_call(*c, req::allocate_ip{"svc", false})) == a);
}

TEST_CASE("50 connections x 200 pipelined requests are answered correctly and in order") {
  daemon_process d("many");
  constexpr int conns = 50, per_conn = 200;
  std::mutex mu;
  std::set<std::string> allocated;
  std::atomic<int> failures{0};
  std::vector<std::string> problems;
  std::vector<std::thread> threads;
  for (int t = 0; t < conns; ++t) {
    threads.emplace_back([&, t] {
      auto fail = [&](std::string why) {
        ++failures;
        std::lock_guard lock(mu);
        problems.push_back("conn " + std::to_string(t) + ": " + why);
      };
      auto c = client::connect(d.socket(), std::chrono::seconds(10));
      if (!c) return fail(c.err().message);
      std::vector<uint64_t> ids;
      // Even requests: status; odd: allocate_ip. All sent before any is read.
      for (int i = 0; i < per_conn; ++i) {
        auto id = i % 2 ? (*c)->send(req::allocate_ip{"svc", false}) : (*c)->send(req::status{});
        if (!id) return fail(id.err().message);
        ids.push_back(*id);
      }
      for (int i = 0; i < per_conn; ++i) {
        auto got = (*c)->receive();
        if (!got) return fail(got.err().message);
        if (got->first != ids[i]) return fail("out of order: got id " + std::to_string(got->first));
        if (i % 2 == 0 && !std::holds_alternative<resp::status>(got->second))
          return fail(std::string("expected status, got ") + result_name(got->second));
        if (i % 2 == 1) {
          auto* ip = std::get_if<resp::ip>(&got->second);
          if (!ip) return fail(std::string("expected ip, got ") + result_name(got->second));
          std::lock_guard lock(mu);
          if (!allocated.insert(ip->ip.to_string()).second) problems.push_back("duplicate " + ip->ip.to_string());
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (auto& p : problems) INFO(p);
  CHECK(failures.load() == 0);
  CHECK(problems.empty());
  CHECK(allocated.size() == size_t(conns * per_conn / 2));  // every address distinct
}

TEST_CASE("bad input is answered or dropped per the contract while other connections keep working") {
  daemon_process d("bad");
  auto good = connect_to(d);
  auto c = connect_to(d);

  SUBCASE("garbage frames get no answer and the connection keeps reading") {
    REQUIRE(c->send_raw("this is not json").ok());
    REQUIRE(c->send_raw(R"({"frame":"event","event":"peer_health_changed","pubkey":"k","healthy":true})").ok());
    auto r = must_call(*c, req::status{});  // id-matched: the garbage produced nothing
    CHECK(std::holds_alternative<resp::status>(r));
  }
  SUBCASE("an unknown op is an err naming it") {
    REQUIRE(c->send_raw(R"({"frame":"request","id":41,"request":{"op":"frobnicate"}})").ok());
    auto got = c->receive();
    REQUIRE(got.ok());
    CHECK(got->first == 41);
    CHECK(err_of(got->second).find("frobnicate") != std::string::npos);
  }
  SUBCASE("a wrong type is an err naming the field and value") {
    REQUIRE(c->send_raw(R"({"frame":"request","id":42,"request":{"op":"set_local_node_id","node_id":"seven"}})").ok());
    auto got = c->receive();
    REQUIRE(got.ok());
    CHECK(got->first == 42);
    CHECK(err_of(got->second).find("node_id") != std::string::npos);
  }
  SUBCASE("a missing field is an err naming it") {
    REQUIRE(c->send_raw(R"({"frame":"request","id":43,"request":{"op":"allocate_ip"}})").ok());
    auto got = c->receive();
    REQUIRE(got.ok());
    CHECK(err_of(got->second).find("service") != std::string::npos);
  }
  SUBCASE("invalid values are refused before any actor sees them") {
    auto r = must_call(*c, req::release_ip{*net::ip_address::parse("10.200.0.2")});
    CHECK(std::holds_alternative<resp::ok>(r));
    REQUIRE(c->send_raw(R"({"frame":"request","id":44,"request":{"op":"release_ip","ip":"10.200.0"}})").ok());
    auto got = c->receive();
    REQUIRE(got.ok());
    CHECK(err_of(got->second).find("10.200.0") != std::string::npos);
    auto bad_key = must_call(*c, req::add_peer{{"not-a-key", "1.2.3.4:51820", "10.200.0.2/32", 25, {}}});
    CHECK(err_of(bad_key).find("not-a-key") != std::string::npos);
    auto bad_ep = must_call(*c, req::add_peer{{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "nowhere", "10.200.0.2/32", 25, {}}});
    CHECK(err_of(bad_ep).find("nowhere") != std::string::npos);
  }
  SUBCASE("an oversize frame closes only that connection") {
    uint32_t len = static_cast<uint32_t>(max_frame_bytes + 1);
    std::string hdr(4, '\0');
    for (int i = 0; i < 4; ++i) hdr[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    write_raw(c->fd(), hdr + "{");
    auto got = c->receive();
    CHECK_FALSE(got.ok());  // closed by the daemon
  }
  SUBCASE("a frame cut off mid-way followed by EOF does not disturb others") {
    write_raw(c->fd(), std::string("\x10\x00\x00\x00{\"fra", 9));
    ::shutdown(c->fd(), SHUT_WR);
  }
  // Whatever happened on `c`, the other connection is served.
  auto r = must_call(*good, req::allocate_ip{"svc", false});
  CHECK(std::holds_alternative<resp::ip>(r));
}

TEST_CASE("bad input to every op over the socket is answered err naming it, and the daemon keeps serving") {
  // One bad request per op of the contract, as raw frames: the answer carries
  // the request's id and an err naming the field or value; status after each
  // is unchanged. The full table is ipc/engine_bad_input.test.cpp.
  daemon_process d("badops");
  auto c = connect_to(d);
  const auto before = encode_response(must_call(*c, req::status{}));
  const std::string K = R"("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")";
  struct row {
    std::string request;
    std::vector<std::string> wants;
  };
  const std::vector<row> table = {
      {R"({"op":"set_local_node_id","node_id":"seven"})", {"node_id", "seven"}},
      {R"({"op":"set_local_wg_pubkey","pubkey":"nope"})", {"pubkey", "nope"}},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.0.0/33","wg_port":51820})",
       {"invalid cluster CIDR 10.0.0/33"}},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.201.0.0/28","wg_port":51820})",
       {"invalid slice CIDR 10.201.0.0/28"}},
      {R"({"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"10.200.0.0/16","wg_port":70000})",
       {"wg_port", "70000"}},
      {R"({"op":"teardown_global_overlay_now"})", {"unknown op 'teardown_global_overlay_now'"}},
      {R"({"op":"setup_service_overlay","service":"web","mode":"turbo"})", {"mode", "turbo"}},
      {R"({"op":"teardown_service_overlay","service":""})", {"service", "must not be empty"}},
      {R"({"op":"allocate_ip","service":")" + std::string(300, 's') + R"("})", {"service", "longer than 253"}},
      {R"({"op":"release_ip","ip":"10.200.0"})", {"'ip'", "10.200.0"}},
      {R"({"op":"attach_container","handle":{"platform":"linux_pid","pid":0},"service":"web"})",
       {"handle.pid", "must not be 0"}},
      {R"({"op":"attach_container","handle":{"platform":"guest_managed","id":"vm"},"service":"web"})",
       {"global overlay to be set up"}},
      {R"({"op":"attach_container","handle":{"platform":"windows_container","container_id":"c"},"service":"web"})",
       {"not supported on Linux"}},
      {R"({"op":"detach_container","handle":{"platform":"plan9","id":"x"}})", {"unknown platform 'plan9'"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"nowhere","allowed_ips":"","persistent_keepalive_secs":25})",
       {"invalid peer endpoint nowhere"}},
      {R"({"op":"add_peer","public_key":)" + K + R"(,"endpoint":"1.2.3.4:1","allowed_ips":"","persistent_keepalive_secs":25,"scope":{"scope":"service","service":"db"}})",
       {"no dedicated overlay for service db"}},
      {R"({"op":"remove_peer","pubkey":"k"})", {"pubkey", "'k'"}},
      {R"({"op":"add_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.0.0.0/40"})", {"invalid CIDR 10.0.0.0/40"}},
      {R"({"op":"remove_allowed_ip","pubkey":)" + K + R"(,"cidr":"10.0.0.0/8","scope":{"scope":"planet"}})",
       {"unknown scope 'planet'"}},
      {R"({"op":"register_dns","name":"a..b","ip":"10.0.0.1"})", {"a..b"}},
      {R"({"op":"unregister_dns","name":""})", {"'name'", "must not be empty"}},
      {R"({"op":"write_scoped_resolver","zone":"z","node_ip":"10.0.0.1","port":0})", {"'port'", "must not be 0"}},
      {R"({"op":"remove_scoped_resolver","zone":"overlay"})", {"macOS"}},
      {R"({"op":"prune_orphan_bridges","live_bridge_names":[1]})", {"live_bridge_names[0]"}},
      {R"({"op":"Status"})", {"unknown op 'Status'"}},
      {R"({"op":"nat_tick","x":1,"op2":"shutdown"})", {}},  // unknown keys are ignored: ok
      {R"({"op":"natstatus"})", {"unknown op 'natstatus'"}},
      {R"({"op":"shut_down"})", {"unknown op 'shut_down'"}},
  };
  uint64_t id = 1000;
  for (const auto& t : table) {
    CAPTURE(t.request);
    ++id;
    REQUIRE(c->send_raw(R"({"frame":"request","id":)" + std::to_string(id) + R"(,"request":)" + t.request + "}").ok());
    auto got = c->receive();
    REQUIRE(got.ok());
    CHECK(got->first == id);
    if (t.wants.empty()) {
      CHECK(std::holds_alternative<resp::ok>(got->second));
    } else {
      const std::string msg = err_of(got->second);
      CAPTURE(msg);
      for (const auto& w : t.wants) CHECK(msg.find(w) != std::string::npos);
    }
    CHECK(encode_response(must_call(*c, req::status{})) == before);
  }
  CHECK(::kill(d.pid(), 0) == 0);  // never shut down
}

TEST_CASE("SIGTERM exits 0 and removes the socket; so does a shutdown request") {
  {
    daemon_process d("sigterm");
    auto c = connect_to(d);
    CHECK(std::holds_alternative<resp::status>(must_call(*c, req::status{})));
    CHECK(d.signal_and_wait(SIGTERM) == 0);
    CHECK_FALSE(std::filesystem::exists(d.socket()));
  }
  {
    daemon_process d("sigint");
    auto c = connect_to(d);
    CHECK(d.signal_and_wait(SIGINT) == 0);
    CHECK_FALSE(std::filesystem::exists(d.socket()));
  }
  {
    daemon_process d("shutdown");
    auto c = connect_to(d);
    CHECK(std::holds_alternative<resp::ok>(must_call(*c, req::shutdown{})));
    CHECK(d.wait() == 0);
    CHECK_FALSE(std::filesystem::exists(d.socket()));
  }
}

TEST_CASE("a stale socket file is replaced and the socket is mode 0660") {
  daemon_process first("stale");
  const auto path = first.socket();
  // Kill without cleanup: the file stays behind.
  ::kill(first.pid(), SIGKILL);
  first.wait();
  REQUIRE(std::filesystem::exists(path));
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl(OVERLAYD_BIN, OVERLAYD_BIN, "--data-dir", first.dir().c_str(), "--socket", path.c_str(),
            "--http", "off", "--log-level", "warn", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto c = client::connect(path, std::chrono::seconds(10));
  REQUIRE(c.ok());
  CHECK(std::holds_alternative<resp::status>(must_call(**c, req::status{})));
  struct stat st{};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("the HTTP API agrees with the socket and enforces its token") {
  const uint16_t port = free_tcp_port();
  daemon_process d("http", {"--http", "127.0.0.1:" + std::to_string(port)});
  auto c = connect_to(d);
  std::ifstream tf(d.dir() / "http.token");
  std::string token;
  std::getline(tf, token);
  REQUIRE(token.size() == 64);
  struct stat st{};
  REQUIRE(::stat((d.dir() / "http.token").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  httplib::Client h("127.0.0.1", port);
  h.set_connection_timeout(5);
  httplib::Headers auth = {{"Authorization", "Bearer " + token}};

  // Same request through both paths: same answer.
  auto via_socket = encode_response(must_call(*c, req::status{}));
  auto res = h.Post("/v1/request", auth, R"({"op":"status"})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == via_socket);
  auto get_status = h.Get("/v1/status");
  REQUIRE(get_status);
  CHECK(get_status->body == via_socket);

  // allocate through HTTP, then the socket sees the pool advanced.
  auto alloc = h.Post("/v1/request", auth, R"({"service":"web","op":"allocate_ip"})", "application/json");
  REQUIRE(alloc);
  CHECK(alloc->body == R"({"result":"ip","ip":"10.200.0.2"})");
  CHECK(std::get<resp::ip>(must_call(*c, req::allocate_ip{"web", false})).ip.to_string() == "10.200.0.3");

  auto no_token = h.Post("/v1/request", R"({"op":"status"})", "application/json");
  REQUIRE(no_token);
  CHECK(no_token->status == 401);
  httplib::Headers wrong = {{"Authorization", "Bearer " + std::string(64, '0')}};
  auto bad_token = h.Post("/v1/request", wrong, R"({"op":"status"})", "application/json");
  REQUIRE(bad_token);
  CHECK(bad_token->status == 401);
  auto malformed = h.Post("/v1/request", auth, R"({"op":)", "application/json");
  REQUIRE(malformed);
  CHECK(malformed->status == 400);
  CHECK(malformed->body.find("\"result\":\"err\"") != std::string::npos);
  auto huge = h.Post("/v1/request", auth, std::string(2 * 1024 * 1024, ' '), "application/json");
  REQUIRE(huge);
  CHECK(huge->status == 413);

  auto health = h.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto nat = h.Get("/v1/nat");
  REQUIRE(nat);
  CHECK(nat->body == R"({"result":"nat_status","candidates":[],"peers":[],"last_refresh":0})");
  auto metrics = h.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("overlayd_requests_total{op=\"allocate_ip\",result=\"ip\"} 2") != std::string::npos);
  CHECK(metrics->body.find("overlayd_actor_mailbox_depth{actor=\"allocator\"}") != std::string::npos);
  auto trace = h.Get("/v1/trace?since=0&limit=1000");
  REQUIRE(trace);
  CHECK(trace->body.find("\"type\":\"alloc_ip\"") != std::string::npos);
  CHECK(trace->body.find(token) == std::string::npos);
  auto perfetto = h.Get("/v1/trace.perfetto");
  REQUIRE(perfetto);
  CHECK(perfetto->body.find("\"traceEvents\"") != std::string::npos);
}

TEST_CASE("the socket peer's pid and uid appear in the trace and the metrics; a uid's connections are capped") {
  const uint16_t port = free_tcp_port();
  daemon_process d("peercred", {"--http", "127.0.0.1:" + std::to_string(port)});
  auto c = connect_to(d);
  CHECK(std::holds_alternative<resp::ip>(must_call(*c, req::allocate_ip{"cred", false})));
  httplib::Client h("127.0.0.1", port);
  h.set_connection_timeout(5);
  const std::string uid = std::to_string(::getuid());
  auto metrics = h.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("overlayd_ipc_connections_open{uid=\"" + uid + "\"} 1") != std::string::npos);
  CHECK(metrics->body.find("overlayd_ipc_requests_by_uid_total{uid=\"" + uid + "\"} 1") != std::string::npos);
  auto trace = h.Get("/v1/trace?since=0&limit=100000");
  REQUIRE(trace);
  const std::string peer = "\"peer\":{\"gid\":" + std::to_string(::getgid()) +
                           ",\"pid\":" + std::to_string(::getpid()) + ",\"uid\":" + uid + "}";
  CHECK(trace->body.find(peer) != std::string::npos);

  // Up to the per-uid cap (the first connection included) are served; one more is closed.
  std::vector<std::unique_ptr<client>> more;
  for (size_t i = 1; i < unix_server::max_connections_per_uid; ++i) more.push_back(connect_to(d));
  for (auto& m : more) CHECK(std::holds_alternative<resp::status>(must_call(*m, req::status{})));
  auto extra = client::connect(d.socket(), std::chrono::seconds(5));
  REQUIRE(extra.ok());  // accepted by the kernel, then closed by the daemon
  auto r = (*extra)->call(req::status{});
  CHECK_FALSE(r.ok());
  auto after = h.Get("/metrics");
  REQUIRE(after);
  CHECK(after->body.find("overlayd_ipc_connections_refused_total{uid=\"" + uid + "\"} 1") != std::string::npos);
  // Closing one frees a slot.
  more.pop_back();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    auto again = client::connect(d.socket(), std::chrono::seconds(5));
    REQUIRE(again.ok());
    served = (*again)->call(req::status{}).ok();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(served);
}
