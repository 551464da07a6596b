// What overlayctl prints: plain functions from the daemon's JSON (a wire
// response, or an HTTP API body) to the text an operator reads. No I/O, so
// every view is unit-tested (ctl_views.test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace overlayd::ctl {

// `now_unix` ages handshakes; views never read the clock themselves.
std::string status_view(const nlohmann::json& status);
std::string peers_view(const nlohmann::json& status, const nlohmann::json& nat, int64_t now_unix);
std::string services_view(const nlohmann::json& services);
std::string nat_view(const nlohmann::json& nat, const nlohmann::json& attempts);
std::string dns_view(const nlohmann::json& dns);

// The actor trace as one tree per request: its correlation id, op and the
// service it names (the records' "service"), then every hop (sender ->
// receiver, message type, wait since the previous hop started, handling
// time). Filters: the request's op (the type of its first hop), its service
// (exactly; requests naming none never match), and a minimum total time.
// A matching request is shown with all its hops.
struct trace_filter {
  std::optional<std::string> op;
  std::optional<std::string> service;
  int64_t slower_than_ns = 0;
  bool empty() const { return !op && !service && slower_than_ns == 0; }
};
std::string trace_view(const nlohmann::json& trace, const trace_filter& f);
// The same selection as JSON: `trace` with only the records of the requests
// that pass `f` (every hop of each), in seq order.
nlohmann::json trace_filtered(const nlohmann::json& trace, const trace_filter& f);

// "5ms", "250us", "2s", "1500ns" -> nanoseconds; nullopt when malformed.
std::optional<int64_t> parse_duration_ns(const std::string& text);

}  // namespace overlayd::ctl
