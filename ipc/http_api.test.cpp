#include <doctest/doctest.h>
#include <httplib.h>

#include <filesystem>

#include "ipc/engine.hpp"
#include "ipc/engine_test_util.hpp"
#include "ipc/http_api.hpp"
#include "ipc/http_host.hpp"

using namespace overlayd;
using namespace overlayd::ipc;
using namespace overlayd::ipc::testing;

namespace {
net::ip_address A(const char* s) { return *net::ip_address::parse(s); }
}  // namespace

TEST_CASE("Host headers: the bound address or localhost pass, other names are refused") {
  struct row {
    const char* host;
    const char* bound;
    bool ok;
  };
  for (auto r : {
           row{"127.0.0.1:7420", "127.0.0.1", true},
           row{"127.0.0.1", "127.0.0.1", true},
           row{"localhost:7420", "127.0.0.1", true},
           row{"LocalHost", "127.0.0.1", true},
           row{"[::1]:7420", "::1", true},
           row{"127.0.0.2:7420", "127.0.0.1", true},  // still loopback
           row{"evil.example:7420", "127.0.0.1", false},
           row{"localhost.evil.example", "127.0.0.1", false},
           row{"127.0.0.1.nip.io:7420", "127.0.0.1", false},
           row{"", "127.0.0.1", false},
           row{"127.0.0.1:x", "127.0.0.1", false},
           row{"[::1", "::1", false},
           row{"10.1.2.3:7420", "10.1.2.3", true},
           row{"10.1.2.4:7420", "10.1.2.3", false},
           row{"127.0.0.1:7420", "10.1.2.3", false},
           row{"10.9.9.9", "0.0.0.0", true},
           row{"attacker.example", "0.0.0.0", false},
       }) {
    CAPTURE(r.host);
    CAPTURE(r.bound);
    CHECK(host_allowed(r.host, A(r.bound)) == r.ok);
  }
}

namespace {

// Starts an engine and the HTTP API on `bind_ip`:0; runs `body(port, token)`.
void with_api(const char* bind_ip, const std::function<void(uint16_t, const std::string&)>& body) {
  engine_config cfg;
  cfg.data_dir = temp_dir("http");
  auto eng = engine::start(cfg);
  REQUIRE(eng.ok());
  auto tok = load_or_create_token(cfg.data_dir);
  REQUIRE(tok.ok());
  auto api = http_api::start(net::endpoint(A(bind_ip), 0), **eng, *tok);
  REQUIRE(api.ok());
  body((*api)->port(), *tok);
  (*api)->stop();
  (*eng)->stop();
  std::filesystem::remove_all(cfg.data_dir);
}

const char* const read_endpoints[] = {"/v1/status", "/v1/nat", "/v1/nat/attempts", "/v1/nat/mapping",
                                      "/v1/trace", "/v1/trace.perfetto", "/metrics", "/healthz"};

}  // namespace

TEST_CASE("on loopback, a rebinding Host gets 421 on every endpoint; localhost and the address pass") {
  with_api("127.0.0.1", [](uint16_t port, const std::string& token) {
    httplib::Client h("127.0.0.1", port);
    h.set_connection_timeout(5);
    for (const char* path : read_endpoints) {
      CAPTURE(path);
      auto ok = h.Get(path);
      REQUIRE(ok);
      CHECK(ok->status == 200);
      auto local = h.Get(path, {{"Host", "localhost:" + std::to_string(port)}});
      REQUIRE(local);
      CHECK(local->status == 200);
      auto evil = h.Get(path, {{"Host", "rebind.attacker.example:" + std::to_string(port)}});
      REQUIRE(evil);
      CHECK(evil->status == 421);
    }
    httplib::Headers evil_auth = {{"Host", "rebind.attacker.example"},
                                  {"Authorization", "Bearer " + token}};
    auto post = h.Post("/v1/request", evil_auth, R"({"op":"status"})", "application/json");
    REQUIRE(post);
    CHECK(post->status == 421);
  });
}

TEST_CASE("bound off loopback, every endpoint needs the token") {
  // A wildcard bind, inside a private network namespace so nothing outside
  // this test can reach it; the client comes in over that namespace's lo.
  in_private_netns([] {
    with_api("0.0.0.0", [](uint16_t port, const std::string& token) {
      httplib::Client h("127.0.0.1", port);
      h.set_connection_timeout(5);
      httplib::Headers auth = {{"Authorization", "Bearer " + token}};
      httplib::Headers wrong = {{"Authorization", "Bearer " + std::string(64, '0')}};
      for (const char* path : read_endpoints) {
        CAPTURE(path);
        auto open = h.Get(path);
        REQUIRE(open);
        CHECK(open->status == 401);
        auto bad = h.Get(path, wrong);
        REQUIRE(bad);
        CHECK(bad->status == 401);
        auto good = h.Get(path, auth);
        REQUIRE(good);
        CHECK(good->status == 200);
      }
      auto post = h.Post("/v1/request", R"({"op":"status"})", "application/json");
      REQUIRE(post);
      CHECK(post->status == 401);
      auto post_ok = h.Post("/v1/request", auth, R"({"op":"status"})", "application/json");
      REQUIRE(post_ok);
      CHECK(post_ok->status == 200);
    });
  });
}
