#include "cmd/ctl_views.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

namespace overlayd::ctl {

namespace {
using json = nlohmann::json;

std::string str(const json& o, const char* k, const char* none = "-") {
  if (!o.is_object() || !o.contains(k) || o[k].is_null()) return none;
  return o[k].is_string() ? o[k].get<std::string>() : o[k].dump();
}

int64_t num(const json& o, const char* k) {
  if (!o.is_object() || !o.contains(k) || !o[k].is_number()) return 0;
  return o[k].get<int64_t>();
}

// A table with left-aligned columns as wide as their widest cell.
class table {
 public:
  explicit table(std::vector<std::string> head) { rows_.push_back(std::move(head)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const {
    std::vector<size_t> w(rows_.front().size(), 0);
    for (const auto& r : rows_)
      for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
    std::string out;
    for (const auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) {
        line += r[i];
        if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
      }
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string bytes(uint64_t n) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
  return buf;
}

std::string age(int64_t then, int64_t now) {
  if (then <= 0) return "never";
  const int64_t s = std::max<int64_t>(0, now - then);
  if (s < 120) return std::to_string(s) + "s ago";
  if (s < 7200) return std::to_string(s / 60) + "m ago";
  return std::to_string(s / 3600) + "h ago";
}

std::string duration(int64_t ns) {
  char buf[32];
  if (ns < 1000) std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  else if (ns < 1000000) std::snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  else if (ns < 1000000000) std::snprintf(buf, sizeof buf, "%.2fms", ns / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  return buf;
}
}  // namespace

std::string status_view(const json& s) {
  std::ostringstream o;
  if (str(s, "interface") == "-") {
    o << "global overlay: down\n";
  } else {
    o << "interface:   " << str(s, "interface") << "\n"
      << "node IP:     " << str(s, "node_ip") << "\n"
      << "public key:  " << str(s, "public_key") << "\n"
      << "cluster:     " << str(s, "overlay_cidr") << "\n"
      << "slice:       " << str(s, "slice_cidr") << "\n";
  }
  o << "peers:       " << num(s, "peer_count") << "\n"
    << "services:    " << num(s, "service_count") << "\n";
  if (s.contains("dedicated_services") && s["dedicated_services"].is_array() && !s["dedicated_services"].empty()) {
    table t({"DEDICATED", "INTERFACE", "PORT", "OVERLAY IP", "SUBNET", "PEERS"});
    for (const auto& d : s["dedicated_services"])
      t.add({str(d, "service"), str(d, "interface"), str(d, "listen_port"), str(d, "overlay_ip"), str(d, "subnet"),
             str(d, "peer_count")});
    o << "\n" << t.render();
  }
  return o.str();
}

std::string peers_view(const json& peers, const json& nat, int64_t now_unix) {
  std::map<std::string, std::string> how;  // public key -> connection type (NAT's view)
  if (nat.is_object() && nat.contains("peers") && nat["peers"].is_array())
    for (const auto& p : nat["peers"]) how[str(p, "node_id")] = str(p, "connection_type");
  table t({"PEER", "DEVICE", "ENDPOINT", "HANDSHAKE", "RX", "TX", "CONNECTION", "ALLOWED IPS"});
  if (peers.is_array())
    for (const auto& p : peers) {
      const std::string key = str(p, "public_key");
      std::string conn = how.count(key) ? how[key] : (str(p, "endpoint") == "-" ? "no endpoint" : "direct");
      t.add({key, str(p, "device"), str(p, "endpoint"), age(num(p, "last_handshake_unix"), now_unix),
             bytes(static_cast<uint64_t>(num(p, "rx_bytes"))), bytes(static_cast<uint64_t>(num(p, "tx_bytes"))), conn,
             str(p, "allowed_ips")});
    }
  return t.render();
}

std::string services_view(const json& services) {
  table t({"SERVICE", "MODE", "SUBNET", "GATEWAY", "BRIDGE", "MEMBERS", "DEDICATED"});
  if (services.is_array())
    for (const auto& r : services) {
      std::string ded = "-";
      if (r.contains("dedicated") && r["dedicated"].is_object())
        ded = str(r["dedicated"], "interface") + ":" + str(r["dedicated"], "port");
      t.add({str(r, "service"), str(r, "mode"), str(r, "subnet"), str(r, "gateway"), str(r, "bridge"),
             str(r, "members"), ded});
    }
  return t.render();
}

std::string nat_view(const json& nat, const json& attempts) {
  std::ostringstream o;
  table c({"CANDIDATE", "TYPE", "PRIORITY"});
  if (nat.contains("candidates") && nat["candidates"].is_array())
    for (const auto& x : nat["candidates"]) c.add({str(x, "address"), str(x, "candidate_type"), str(x, "priority")});
  o << c.render() << "\n";
  table p({"PEER", "CONNECTION", "REMOTE ENDPOINT", "ATTEMPTS", "LAST OUTCOME", "REASON"});
  std::map<std::string, json> log;
  if (attempts.is_array())
    for (const auto& a : attempts) log[str(a, "peer")] = a;
  if (nat.contains("peers") && nat["peers"].is_array())
    for (const auto& x : nat["peers"]) {
      const std::string key = str(x, "node_id");
      std::string n = "0", outcome = "-", reason = "-";
      if (auto it = log.find(key); it != log.end() && it->second.contains("attempts") &&
                                   it->second["attempts"].is_array() && !it->second["attempts"].empty()) {
        n = std::to_string(it->second["attempts"].size());
        outcome = str(it->second["attempts"].back(), "outcome");
        reason = str(it->second["attempts"].back(), "reason");
      }
      p.add({key, str(x, "connection_type"), str(x, "remote_endpoint"), n, outcome, reason});
    }
  o << p.render();
  return o.str();
}

std::string dns_view(const json& dns) {
  std::ostringstream o;
  std::string domains;
  if (dns.contains("domains") && dns["domains"].is_array())
    for (const auto& d : dns["domains"]) domains += (domains.empty() ? "" : ", ") + d.get<std::string>();
  o << "domains: " << (domains.empty() ? "-" : domains) << "\n";
  table t({"NAME", "ADDRESSES"});
  if (dns.contains("records") && dns["records"].is_array())
    for (const auto& r : dns["records"]) {
      std::string ips;
      if (r.contains("addresses") && r["addresses"].is_array())
        for (const auto& a : r["addresses"]) ips += (ips.empty() ? "" : ", ") + a.get<std::string>();
      t.add({str(r, "name"), ips});
    }
  o << t.render();
  return o.str();
}

namespace {
// One request of the trace: its records in seq order and what the filters
// and the tree header need.
struct traced_request {
  uint64_t correlation = 0;
  std::vector<const json*> hops;
  std::string type, op, service;
  int64_t t0 = 0, end = 0;
};

// The requests in `trace` (records grouped by correlation id; 0 is no
// request) that pass `f`, in correlation order.
std::vector<traced_request> matching_requests(const json& trace, const trace_filter& f) {
  std::map<uint64_t, std::vector<const json*>> by_request;
  if (trace.contains("records") && trace["records"].is_array())
    for (const auto& r : trace["records"]) {
      const auto c = r.value("correlation", uint64_t{0});
      if (c) by_request[c].push_back(&r);
    }
  std::vector<traced_request> out;
  for (auto& [c, hops] : by_request) {
    traced_request q;
    q.correlation = c;
    q.hops = std::move(hops);
    std::sort(q.hops.begin(), q.hops.end(),
              [](const json* a, const json* b) { return a->value("seq", 0ull) < b->value("seq", 0ull); });
    const json& first = *q.hops.front();
    q.type = first.value("type", std::string("?"));
    q.op = q.type.find(':') == std::string::npos ? q.type : q.type.substr(q.type.rfind(':') + 1);
    if (f.op && q.op != *f.op && q.type.find(*f.op) == std::string::npos) continue;
    q.t0 = q.end = first.value("time_ns", int64_t{0});
    for (const json* h : q.hops)
      q.end = std::max(q.end, h->value("time_ns", int64_t{0}) + h->value("handling_ns", int64_t{0}));
    if (q.end - q.t0 < f.slower_than_ns) continue;
    // The service the request names: on each of its records ("service"), or
    // at least on those that carried the request.
    for (const json* h : q.hops)
      if (q.service.empty()) q.service = str(*h, "service", "");
    if (f.service && q.service != *f.service) continue;
    out.push_back(std::move(q));
  }
  return out;
}
}  // namespace

std::string trace_view(const json& trace, const trace_filter& f) {
  std::ostringstream o;
  for (const auto& q : matching_requests(trace, f)) {
    o << "request " << q.correlation << "  " << q.op;
    if (!q.service.empty()) o << "  service " << q.service;
    o << "  " << duration(q.end - q.t0) << "  (" << q.hops.size() << " hops)\n";
    int64_t prev_start = q.t0;
    for (size_t i = 0; i < q.hops.size(); ++i) {
      const json& h = *q.hops[i];
      const int64_t start = h.value("time_ns", int64_t{0});
      o << (i + 1 == q.hops.size() ? "  └─ " : "  ├─ ") << "#" << h.value("seq", 0ull) << " "
        << str(h["sender"], "name") << " → " << str(h["receiver"], "name") << "  " << h.value("type", std::string("?"))
        << "  wait " << duration(std::max<int64_t>(0, start - prev_start)) << "  handle "
        << duration(h.value("handling_ns", int64_t{0})) << "\n";
      prev_start = start;
    }
  }
  return o.str();
}

json trace_filtered(const json& trace, const trace_filter& f) {
  json out = trace.is_object() ? trace : json::object();
  json records = json::array();
  for (const auto& q : matching_requests(trace, f))
    for (const json* h : q.hops) records.push_back(*h);
  std::sort(records.begin(), records.end(),
            [](const json& a, const json& b) { return a.value("seq", 0ull) < b.value("seq", 0ull); });
  out["records"] = std::move(records);
  return out;
}

std::optional<int64_t> parse_duration_ns(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + i, v);
  if (ec != std::errc() || end != text.data() + i) return std::nullopt;
  const std::string unit = text.substr(i);
  double scale = 0;
  if (unit == "ns") scale = 1;
  else if (unit == "us") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else return std::nullopt;
  return static_cast<int64_t>(v * scale);
}

}  // namespace overlayd::ctl
