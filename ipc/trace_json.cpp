#include "ipc/trace_json.hpp"

#include <caf/atom.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "ipc/types.hpp"

namespace overlayd::ipc {

namespace {
const char* op_name_at(int i) {
  static const auto names = [] {
    std::array<const char*, std::variant_size_v<request>> a{};
    [&]<size_t... I>(std::index_sequence<I...>) {
      ((a[I] = op_name(request(std::in_place_index<I>))), ...);
    }(std::make_index_sequence<a.size()>());
    return a;
  }();
  return i >= 0 && size_t(i) < names.size() ? names[i] : "?";
}
const char* result_name_at(int i) {
  static const auto names = [] {
    std::array<const char*, std::variant_size_v<response>> a{};
    [&]<size_t... I>(std::index_sequence<I...>) {
      ((a[I] = result_name(response(std::in_place_index<I>))), ...);
    }(std::make_index_sequence<a.size()>());
    return a;
  }();
  return i >= 0 && size_t(i) < names.size() ? names[i] : "?";
}
}  // namespace

std::map<uint64_t, std::string> request_services(const std::vector<actors::trace_record>& records) {
  std::map<uint64_t, std::string> out;
  for (const auto& r : records)
    if (r.correlation && !r.service.empty()) out.emplace(r.correlation, r.service);
  return out;
}

std::string trace_message_type(const actors::trace_record& r) {
  std::string t;
  if (r.atom) t = caf::to_string(static_cast<caf::atom_value>(r.atom));
  else if (r.is_response) t = "reply";
  else t = "message";
  if (r.op_index >= 0) (t += ':') += op_name_at(r.op_index);
  if (r.result_index >= 0) (t += ':') += result_name_at(r.result_index);
  return t;
}

std::string render_trace_json(const std::vector<actors::trace_record>& records, uint64_t last_seq,
                              const caller_lookup& caller_of) {
  const auto service_of = request_services(records);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : records) {
    std::optional<peer_cred> peer;
    if (caller_of && r.correlation) peer = caller_of(r.correlation);
    list.push_back({
        {"seq", r.seq},
        {"time_ns", r.mono_ns},
        {"handling_ns", r.handling_ns},
        {"sender", {{"name", r.sender_id ? r.sender : "external"}, {"id", r.sender_id}}},
        {"receiver", {{"name", r.receiver}, {"id", r.receiver_id}}},
        {"type", trace_message_type(r)},
        {"correlation", r.correlation},
        {"response", r.is_response},
    });
    if (peer) list.back()["peer"] = {{"pid", peer->pid}, {"uid", peer->uid}, {"gid", peer->gid}};
    if (auto it = service_of.find(r.correlation); it != service_of.end()) list.back()["service"] = it->second;
  }
  nlohmann::json out = {{"last_seq", last_seq}, {"records", std::move(list)}};
  return out.dump();
}

std::string render_perfetto_json(const std::vector<actors::trace_record>& records) {
  // One "thread" per actor; each consumed message is a complete ("X") event
  // on its receiver's track. The hops of one request (one correlation id)
  // are linked by a flow: "s" on the first hop, "t" on each next one, "f"
  // on the last, each bound to the slice it starts in, so Perfetto draws an
  // arrow from hop to hop in seq order.
  nlohmann::json events = nlohmann::json::array();
  std::set<uint64_t> named;
  std::map<uint64_t, std::vector<const actors::trace_record*>> hops;  // correlation -> records
  for (const auto& r : records)
    if (r.correlation) hops[r.correlation].push_back(&r);
  for (auto& [corr, list] : hops) {
    if (list.size() < 2) continue;
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
    for (size_t i = 0; i < list.size(); ++i) {
      const char* ph = i == 0 ? "s" : i + 1 == list.size() ? "f" : "t";
      nlohmann::json e{{"ph", ph},
                       {"name", "request"},
                       {"cat", "request"},
                       {"id", corr},
                       {"pid", 1},
                       {"tid", list[i]->receiver_id},
                       {"ts", static_cast<double>(list[i]->mono_ns) / 1000.0}};
      if (i + 1 == list.size()) e["bp"] = "e";  // bind to the enclosing slice
      events.push_back(std::move(e));
    }
  }
  const auto service_of = request_services(records);
  for (const auto& r : records) {
    if (named.insert(r.receiver_id).second)
      events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", 1}, {"tid", r.receiver_id},
                        {"args", {{"name", std::string(r.receiver) + " #" + std::to_string(r.receiver_id)}}}});
    const double ts = static_cast<double>(r.mono_ns) / 1000.0;
    events.push_back({{"ph", "X"},
                      {"name", trace_message_type(r)},
                      {"cat", "actor"},
                      {"pid", 1},
                      {"tid", r.receiver_id},
                      {"ts", ts},
                      {"dur", static_cast<double>(r.handling_ns) / 1000.0},
                      {"args",
                       {{"seq", r.seq},
                        {"correlation", r.correlation},
                        {"sender", r.sender_id ? r.sender : "external"},
                        {"sender_id", r.sender_id}}}});
    if (auto it = service_of.find(r.correlation); it != service_of.end())
      events.back()["args"]["service"] = it->second;
  }
  nlohmann::json out = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ns"}};
  return out.dump();
}

}  // namespace overlayd::ipc
