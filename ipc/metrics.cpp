#include "ipc/metrics.hpp"

#include <cstdio>

namespace overlayd::ipc {

namespace {
// Names for the label values: the wire tags, derived from a default value of
// each alternative (op_name/result_name only need the index).
template <class Variant, size_t... I>
std::array<const char*, sizeof...(I)> names(const char* (*fn)(const Variant&),
                                            std::index_sequence<I...>) {
  return {fn(Variant(std::in_place_index<I>))...};
}
}  // namespace

void request_metrics::record(size_t op, size_t result, double seconds) noexcept {
  if (op < ops && result < results) count_[op][result].fetch_add(1, std::memory_order_relaxed);
  size_t b = 0;
  while (b < bounds.size() && seconds > bounds[b]) ++b;
  buckets_[b].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  total_.fetch_add(1, std::memory_order_relaxed);
}

std::string request_metrics::render() const {
  static const auto op_names = names<request>(&op_name, std::make_index_sequence<ops>());
  static const auto result_names =
      names<response>(&result_name, std::make_index_sequence<results>());
  std::string out;
  char line[256];
  out += "# HELP overlayd_requests_total IPC requests served, by op and result.\n";
  out += "# TYPE overlayd_requests_total counter\n";
  for (size_t o = 0; o < ops; ++o)
    for (size_t r = 0; r < results; ++r)
      if (uint64_t n = count_[o][r].load(std::memory_order_relaxed)) {
        std::snprintf(line, sizeof line, "overlayd_requests_total{op=\"%s\",result=\"%s\"} %llu\n",
                      op_names[o], result_names[r], static_cast<unsigned long long>(n));
        out += line;
      }
  out += "# HELP overlayd_requests_rejected_total Requests refused by validation before any actor.\n";
  out += "# TYPE overlayd_requests_rejected_total counter\n";
  std::snprintf(line, sizeof line, "overlayd_requests_rejected_total %llu\n",
                static_cast<unsigned long long>(rejected_.load()));
  out += line;
  out += "# HELP overlayd_request_duration_seconds Time from a request entering the engine to its response.\n";
  out += "# TYPE overlayd_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= bounds.size(); ++b) {
    cumulative += buckets_[b].load(std::memory_order_relaxed);
    if (b < bounds.size())
      std::snprintf(line, sizeof line, "overlayd_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    bounds[b], static_cast<unsigned long long>(cumulative));
    else
      std::snprintf(line, sizeof line, "overlayd_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                    static_cast<unsigned long long>(cumulative));
    out += line;
  }
  std::snprintf(line, sizeof line, "overlayd_request_duration_seconds_sum %.6f\n",
                static_cast<double>(sum_us_.load()) / 1e6);
  out += line;
  std::snprintf(line, sizeof line, "overlayd_request_duration_seconds_count %llu\n",
                static_cast<unsigned long long>(total_.load()));
  out += line;
  return out;
}

peer_metrics::row& peer_metrics::at(uint32_t uid) {
  if (auto it = rows_.find(uid); it != rows_.end()) return it->second;
  if (rows_.size() >= max_uids) return other_;
  return rows_[uid];
}

void peer_metrics::connected(uint32_t uid) {
  std::lock_guard lock(mu_);
  row& r = at(uid);
  ++r.connections;
  ++r.open;
}

void peer_metrics::closed(uint32_t uid) {
  std::lock_guard lock(mu_);
  row& r = at(uid);
  if (r.open) --r.open;
}

void peer_metrics::refused(uint32_t uid) {
  std::lock_guard lock(mu_);
  ++at(uid).refused;
}

void peer_metrics::request(uint32_t uid) {
  std::lock_guard lock(mu_);
  ++at(uid).requests;
}

size_t peer_metrics::open(uint32_t uid) const {
  std::lock_guard lock(mu_);
  auto it = rows_.find(uid);
  return it != rows_.end() ? it->second.open : other_.open;
}

std::string peer_metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  char line[160];
  auto each = [&](const char* name, const char* help, const char* type, auto field) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [uid, r] : rows_) {
      std::snprintf(line, sizeof line, "%s{uid=\"%u\"} %llu\n", name, uid,
                    static_cast<unsigned long long>(field(r)));
      out += line;
    }
    if (field(other_)) {
      std::snprintf(line, sizeof line, "%s{uid=\"other\"} %llu\n", name,
                    static_cast<unsigned long long>(field(other_)));
      out += line;
    }
  };
  each("overlayd_ipc_connections_total", "IPC socket connections accepted, by peer uid (SO_PEERCRED).",
       "counter", [](const row& r) { return r.connections; });
  each("overlayd_ipc_connections_open", "IPC socket connections open now, by peer uid.", "gauge",
       [](const row& r) { return uint64_t(r.open); });
  each("overlayd_ipc_connections_refused_total", "IPC connections refused by the per-uid limit.",
       "counter", [](const row& r) { return r.refused; });
  each("overlayd_ipc_requests_by_uid_total", "IPC socket requests, by peer uid.", "counter",
       [](const row& r) { return r.requests; });
  return out;
}

}  // namespace overlayd::ipc
