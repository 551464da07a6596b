#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "ipc/trace_json.hpp"

using namespace overlayd;

TEST_CASE("the Perfetto export links the hops of one request with a flow, in seq order") {
  auto rec = [](uint64_t seq, uint64_t corr, uint64_t receiver, int64_t ns) {
    actors::trace_record r;
    r.seq = seq;
    r.correlation = corr;
    r.receiver_id = receiver;
    r.receiver = "actor";
    r.mono_ns = ns;
    r.handling_ns = 10;
    return r;
  };
  // Correlation 5 has three hops (given out of order); 6 has one; 0 is none.
  std::vector<actors::trace_record> records{rec(3, 5, 3, 3000), rec(1, 5, 1, 1000), rec(2, 5, 2, 2000),
                                            rec(4, 6, 1, 4000), rec(5, 0, 2, 5000)};
  auto j = nlohmann::json::parse(ipc::render_perfetto_json(records));
  std::vector<std::pair<std::string, double>> flow;  // ph, ts of correlation 5's flow events
  size_t slices = 0, other_flows = 0;
  for (const auto& e : j["traceEvents"]) {
    const std::string ph = e["ph"];
    if (ph == "X") ++slices;
    if (ph == "s" || ph == "t" || ph == "f") {
      if (e["id"] == 5) flow.emplace_back(ph, e["ts"].get<double>());
      else ++other_flows;
    }
  }
  CHECK(slices == 5);
  CHECK(other_flows == 0);  // a lone hop or no correlation: no arrow
  REQUIRE(flow.size() == 3);
  CHECK(flow[0] == std::pair<std::string, double>{"s", 1.0});
  CHECK(flow[1] == std::pair<std::string, double>{"t", 2.0});
  CHECK(flow[2] == std::pair<std::string, double>{"f", 3.0});
}

TEST_CASE("the trace JSON names a request's service on every one of its records") {
  auto rec = [](uint64_t seq, uint64_t corr, const char* service) {
    actors::trace_record r;
    r.seq = seq;
    r.correlation = corr;
    r.receiver = "actor";
    r.receiver_id = 2;
    r.service = service;
    return r;
  };
  // Correlation 5 names "web" on its second hop only (the one carrying the
  // request); 6 names "db"; 7 names none; 0 is no request.
  std::vector<actors::trace_record> records{rec(1, 5, ""), rec(2, 5, "web"), rec(3, 6, "db"), rec(4, 5, ""),
                                            rec(5, 7, ""), rec(6, 0, "")};
  auto j = nlohmann::json::parse(ipc::render_trace_json(records, 6));
  REQUIRE(j["records"].size() == 6);
  std::map<uint64_t, std::string> by_seq;
  for (const auto& r : j["records"]) {
    CHECK(r.contains("seq"));  // the existing fields stay
    CHECK(r.contains("correlation"));
    CHECK(r.contains("type"));
    if (r.contains("service")) by_seq[r["seq"]] = r["service"];
  }
  CHECK(by_seq == std::map<uint64_t, std::string>{{1, "web"}, {2, "web"}, {3, "db"}, {4, "web"}});
  // The Perfetto export carries it in each slice's args.
  auto p = nlohmann::json::parse(ipc::render_perfetto_json(records));
  size_t web = 0;
  for (const auto& e : p["traceEvents"])
    if (e["ph"] == "X" && e["args"].value("service", std::string()) == "web") ++web;
  CHECK(web == 3);
}
