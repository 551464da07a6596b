// Renders the actor trace for people and tools: a JSON listing (GET
// /v1/trace, `overlayctl trace`) and Chrome trace-event JSON that Perfetto
// and chrome://tracing open (GET /v1/trace.perfetto).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/trace.hpp"
#include "ipc/peer_cred.hpp"

namespace overlayd::ipc {

// "alloc_ip", "serve:allocate_ip", "reply:ip"...: the atom, then the IPC op or
// result the message carries.
std::string trace_message_type(const actors::trace_record& r);

// The service each request names, by correlation id, from the hops in
// `records` that carry the request itself (actors::trace_record::service).
std::map<uint64_t, std::string> request_services(const std::vector<actors::trace_record>& records);

// `caller_of`, when given, names the socket peer (SO_PEERCRED) behind a
// correlation id; records of such requests carry "peer":{"pid","uid","gid"}.
// Every record of a request that names a service carries "service":NAME,
// when the hops carrying the request are among `records` (a window that
// starts after them, ?since=, leaves the later hops without it); records of
// other requests have no "service".
using caller_lookup = std::function<std::optional<peer_cred>(uint64_t correlation)>;
std::string render_trace_json(const std::vector<actors::trace_record>& records, uint64_t last_seq,
                              const caller_lookup& caller_of = {});
std::string render_perfetto_json(const std::vector<actors::trace_record>& records);

}  // namespace overlayd::ipc
