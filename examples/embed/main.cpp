// An agent embedding overlayd: an engine in-process, requests without a
// socket, and the actor trace of what they caused.
//
//   c++ -std=c++20 main.cpp $(pkg-config --cflags --libs --static overlayd)
//   ./a.out DATA_DIR
#include <cstdio>
#include <string>

#include <overlayd/actors/observability.hpp>
#include <overlayd/ipc/codec.hpp>
#include <overlayd/ipc/engine.hpp>

using namespace overlayd;

int main(int argc, char** argv) {
  ipc::engine_config cfg;
  cfg.data_dir = argc > 1 ? argv[1] : "./embed-data";
  cfg.uapi_dir = cfg.data_dir + "/uapi";
  auto eng = ipc::engine::start(cfg);
  if (!eng) {
    std::fprintf(stderr, "engine: %s\n", eng.err().message.c_str());
    return 1;
  }
  auto& e = **eng;
  // Requests the embedding agent sends exactly as it would over the socket.
  const ipc::request requests[] = {ipc::req::set_local_node_id{7}, ipc::req::allocate_ip{"web", false},
                                   ipc::req::register_dns{"web-1", *net::ip_address::parse("10.200.0.2")},
                                   ipc::req::status{}};
  for (const auto& r : requests)
    std::printf("%s -> %s\n", ipc::op_name(r), ipc::encode_response(e.call(r)).c_str());
  // The trace: every hop each request caused, tagged with its correlation id.
  for (const auto& t : e.observability().ring().read(0, 1000))
    if (t.correlation)
      std::printf("trace #%llu correlation %llu: %s -> %s\n", static_cast<unsigned long long>(t.seq),
                  static_cast<unsigned long long>(t.correlation), t.sender_id ? t.sender : "external", t.receiver);
  e.stop();
  return 0;
}
