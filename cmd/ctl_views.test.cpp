#include <doctest/doctest.h>

#include <vector>

#include "cmd/ctl_views.hpp"

using namespace overlayd::ctl;
using json = nlohmann::json;

namespace {
bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
}  // namespace

TEST_CASE("overlayctl views: status, peers, services and nat read as tables") {
  auto s = json::parse(R"({"result":"status","interface":"zl-d-1-g","node_ip":"10.200.1.1","public_key":"K1",
    "overlay_cidr":"10.200.0.0/16","slice_cidr":"10.200.1.0/24","peer_count":1,"service_count":2,
    "dedicated_services":[{"service":"db","interface":"zl-x-d","public_key":"D","listen_port":51421,
    "overlay_ip":"10.200.5.1","subnet":"10.200.5.0/26","peer_count":3}]})");
  const auto st = status_view(s);
  CHECK(has(st, "node IP:     10.200.1.1"));
  CHECK(has(st, "cluster:     10.200.0.0/16"));
  CHECK(has(st, "db         zl-x-d"));
  CHECK(has(status_view(json::parse(R"({"result":"status","peer_count":0,"service_count":0})")), "global overlay: down"));

  auto peers = json::parse(R"([{"device":"zl-d-1-g","service":null,"public_key":"P2","endpoint":"10.97.0.2:51820",
    "allowed_ips":"10.200.2.0/24","last_handshake_unix":1000,"rx_bytes":2048,"tx_bytes":5},
    {"device":"zl-d-1-g","service":null,"public_key":"P3","endpoint":null,"allowed_ips":"","last_handshake_unix":0,
    "rx_bytes":0,"tx_bytes":0}])");
  auto nat = json::parse(R"({"peers":[{"node_id":"P2","connection_type":"hole-punched","remote_endpoint":"1.2.3.4:5"}],
    "candidates":[{"candidate_type":"host","address":"10.97.0.1:51820","priority":100}]})");
  const auto pv = peers_view(peers, nat, 1030);
  CHECK(has(pv, "30s ago"));
  CHECK(has(pv, "2.0 KiB"));
  CHECK(has(pv, "hole-punched"));
  CHECK(has(pv, "never"));
  CHECK(has(pv, "no endpoint"));

  auto svcs = json::parse(R"([{"service":"web","mode":"auto","subnet":"10.200.40.64/26","gateway":"10.200.40.65",
    "bridge":"zl-web-b","members":2,"dedicated":null},{"service":"db","mode":"dedicated","subnet":"10.200.5.0/26",
    "gateway":"10.200.5.1","bridge":"zl-db-b","members":0,"dedicated":{"interface":"zl-x-d","port":51421,"public_key":"D"}}])");
  const auto sv = services_view(svcs);
  CHECK(has(sv, "SERVICE"));
  CHECK(has(sv, "10.200.40.64/26"));
  CHECK(has(sv, "zl-x-d:51421"));

  const auto dv = dns_view(json::parse(R"({"domains":["overlay","cluster.local"],
    "records":[{"name":"web-1","addresses":["10.200.40.66","fd00::2"]}]})"));
  CHECK(has(dv, "domains: overlay, cluster.local"));
  CHECK(has(dv, "web-1  10.200.40.66, fd00::2"));

  auto attempts = json::parse(R"([{"peer":"P2","attempts":[{"age_secs":3,"pairs_tried":2,"outcome":"punched","reason":"ok"}]}])");
  const auto nv = nat_view(nat, attempts);
  CHECK(has(nv, "10.97.0.1:51820"));
  CHECK(has(nv, "punched"));
}

TEST_CASE("overlayctl trace: one tree per request, hops in order, filters by op and duration") {
  auto t = json::parse(R"({"last_seq":5,"records":[
    {"seq":1,"time_ns":1000,"handling_ns":100,"sender":{"name":"external","id":0},"receiver":{"name":"gateway","id":3},
     "type":"serve:setup_service_overlay","correlation":7,"response":false},
    {"seq":2,"time_ns":1500,"handling_ns":4000000,"sender":{"name":"gateway","id":3},"receiver":{"name":"supervisor","id":4},
     "type":"serve:setup_service_overlay","correlation":7,"response":false},
    {"seq":3,"time_ns":2000,"handling_ns":50,"sender":{"name":"external","id":0},"receiver":{"name":"gateway","id":3},
     "type":"serve:status","correlation":8,"response":false},
    {"seq":4,"time_ns":9000,"handling_ns":10,"sender":{"name":"supervisor","id":4},"receiver":{"name":"gateway","id":3},
     "type":"reply:service_overlay","correlation":7,"response":true},
    {"seq":5,"time_ns":9100,"handling_ns":10,"sender":{"name":"x","id":9},"receiver":{"name":"y","id":10},
     "type":"sweep","correlation":0,"response":false}]})");
  const auto all = trace_view(t, {});
  CHECK(has(all, "request 7  setup_service_overlay"));
  CHECK(has(all, "(3 hops)"));
  CHECK(has(all, "#2 gateway → supervisor  serve:setup_service_overlay  wait 500ns  handle 4.00ms"));
  CHECK(has(all, "└─ #4 supervisor → gateway"));
  CHECK(has(all, "request 8  status"));
  CHECK_FALSE(has(all, "sweep"));  // not part of a request
  CHECK(all.find("request 7") < all.find("request 8"));

  trace_filter only_status;
  only_status.op = "status";
  CHECK_FALSE(has(trace_view(t, only_status), "request 7"));
  CHECK(has(trace_view(t, only_status), "request 8"));
  trace_filter slow;
  slow.slower_than_ns = *parse_duration_ns("1ms");
  CHECK(has(trace_view(t, slow), "request 7"));
  CHECK_FALSE(has(trace_view(t, slow), "request 8"));
  // Neither request names a service: --service matches neither, not even
  // on an actor's name or a message type.
  trace_filter svc;
  svc.service = "supervisor";
  CHECK(trace_view(t, svc).empty());
  svc.service = "setup_service_overlay";
  CHECK(trace_view(t, svc).empty());
}

TEST_CASE("overlayctl trace --service: requests naming that service, with all their hops") {
  // 7: setup_service_overlay web (every record says so, as /v1/trace gives
  // them); 8: allocate_ip api; 9: allocate_ip web where only the hop that
  // carried the request names it (a --follow batch); 10: status, no service;
  // 11: a service whose name contains "web".
  auto t = json::parse(R"({"last_seq":12,"records":[
    {"seq":1,"time_ns":1000,"handling_ns":100,"sender":{"name":"external","id":0},"receiver":{"name":"gateway","id":3},
     "type":"request:setup_service_overlay","correlation":7,"response":false,"service":"web"},
    {"seq":2,"time_ns":1500,"handling_ns":400,"sender":{"name":"gateway","id":3},"receiver":{"name":"supervisor","id":4},
     "type":"serve:setup_service_overlay","correlation":7,"response":false,"service":"web"},
    {"seq":3,"time_ns":2000,"handling_ns":50,"sender":{"name":"external","id":0},"receiver":{"name":"gateway","id":3},
     "type":"request:allocate_ip","correlation":8,"response":false,"service":"api"},
    {"seq":4,"time_ns":2100,"handling_ns":50,"sender":{"name":"gateway","id":3},"receiver":{"name":"allocator","id":5},
     "type":"alloc_ip","correlation":8,"response":false,"service":"api"},
    {"seq":5,"time_ns":3000,"handling_ns":10,"sender":{"name":"supervisor","id":4},"receiver":{"name":"web_actor","id":6},
     "type":"svc_setup","correlation":7,"response":false,"service":"web"},
    {"seq":6,"time_ns":4000,"handling_ns":10,"sender":{"name":"supervisor","id":4},"receiver":{"name":"gateway","id":3},
     "type":"reply:service_overlay","correlation":7,"response":true,"service":"web"},
    {"seq":7,"time_ns":5000,"handling_ns":10,"sender":{"name":"external","id":0},"receiver":{"name":"gateway","id":3},
     "type":"request:allocate_ip","correlation":9,"response":false,"service":"web"},
    {"seq":8,"time_ns":5100,"handling_ns":10,"sender":{"name":"gateway","id":3},"receiver":{"name":"allocator","id":5},
     "type":"alloc_ip","correlation":9,"response":false},
    {"seq":9,"time_ns":5200,"handling_ns":10,"sender":{"name":"allocator","id":5},"receiver":{"name":"gateway","id":3},
     "type":"reply:ip","correlation":9,"response":true},
    {"seq":10,"time_ns":6000,"handling_ns":10,"sender":{"name":"external","id":0},"receiver":{"name":"gateway","id":3},
     "type":"request:status","correlation":10,"response":false},
    {"seq":11,"time_ns":7000,"handling_ns":10,"sender":{"name":"external","id":0},"receiver":{"name":"gateway","id":3},
     "type":"request:setup_service_overlay","correlation":11,"response":false,"service":"webshop"},
    {"seq":12,"time_ns":7100,"handling_ns":10,"sender":{"name":"x","id":9},"receiver":{"name":"y","id":10},
     "type":"sweep","correlation":0,"response":false}]})");
  const auto all = trace_view(t, {});
  CHECK(has(all, "request 7  setup_service_overlay  service web  "));
  CHECK(has(all, "request 8  allocate_ip  service api  "));
  CHECK(has(all, "request 9  allocate_ip  service web  "));
  CHECK(has(all, "request 10  status  "));
  CHECK_FALSE(has(all, "request 10  status  service"));

  trace_filter web;
  web.service = "web";
  const auto v = trace_view(t, web);
  CHECK(has(v, "request 7  setup_service_overlay  service web  "));
  CHECK(has(v, "(4 hops)"));
  CHECK(has(v, "#5 supervisor → web_actor  svc_setup"));
  CHECK(has(v, "└─ #6 supervisor → gateway  reply:service_overlay"));
  CHECK(has(v, "request 9  allocate_ip  service web  "));
  CHECK(has(v, "(3 hops)"));
  CHECK(has(v, "└─ #9 allocator → gateway  reply:ip"));
  CHECK_FALSE(has(v, "request 8"));   // api
  CHECK_FALSE(has(v, "request 10"));  // names no service
  CHECK_FALSE(has(v, "request 11"));  // webshop is not web
  CHECK_FALSE(has(v, "sweep"));

  // Combined with the other filters.
  web.op = "allocate_ip";
  CHECK_FALSE(has(trace_view(t, web), "request 7"));
  CHECK(has(trace_view(t, web), "request 9"));
  trace_filter none;
  none.service = "nope";
  CHECK(trace_view(t, none).empty());

  // --json: the same requests, every hop of each, in seq order.
  trace_filter web_only;
  web_only.service = "web";
  const auto j = trace_filtered(t, web_only);
  CHECK(j["last_seq"] == 12);
  std::vector<uint64_t> seqs;
  for (const auto& r : j["records"]) seqs.push_back(r["seq"]);
  CHECK(seqs == std::vector<uint64_t>{1, 2, 5, 6, 7, 8, 9});
  CHECK(trace_filter{}.empty());
  CHECK_FALSE(web_only.empty());
}

TEST_CASE("durations parse with units; anything else is refused") {
  CHECK(parse_duration_ns("5ms") == 5000000);
  CHECK(parse_duration_ns("250us") == 250000);
  CHECK(parse_duration_ns("2s") == 2000000000);
  CHECK(parse_duration_ns("1.5ms") == 1500000);
  CHECK(parse_duration_ns("7ns") == 7);
  CHECK_FALSE(parse_duration_ns("5").has_value());
  CHECK_FALSE(parse_duration_ns("ms").has_value());
  CHECK_FALSE(parse_duration_ns("5 ms").has_value());
  CHECK_FALSE(parse_duration_ns("").has_value());
}
