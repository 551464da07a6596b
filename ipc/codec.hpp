// JSON codec of the IPC contract (docs/ipc-contract.md): the serde
// conventions of the Rust overlayd, byte for byte.
//
// Encoding: compact UTF-8 JSON exactly as serde_json writes it — the tag
// first, then the fields in struct declaration order; absent optionals and
// empty `peers`/`dedicated_services`/`candidates` omitted, never `null`.
// Decoding: unknown keys ignored, the tag at any position, `null` == absent
// for optionals and `[d]` fields, integer ranges checked. Errors name the
// field and the value ("invalid field 'wg_port': expected u16, got 70000").
//
// Nothing here throws: nlohmann's exceptions stop in codec.cpp. The JSON
// library stays out of this header so callers do not pay for it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "ipc/types.hpp"

namespace overlayd::ipc {

// Bounds on one decoded message, beyond the frame's 8 MiB: JSON values
// (objects, arrays and scalars; an object or array counts twice) and nesting
// depth. Far above any request or response the contract can carry (a status
// of 4096 peers is ~60k values), far below what 8 MiB of "0," would build.
inline constexpr size_t max_json_values = 262144;
inline constexpr size_t max_json_depth = 128;  // serde_json's recursion limit

// A whole frame {"frame": "request"|"response"|"event", ...}.
// errc::protocol when the text is not a frame at all (bad JSON, not an
// object, missing or unknown "frame", bad "id"); errc::invalid_argument when
// it is a frame whose body is wrong (unknown op, wrong type, missing field).
result<frame> decode_frame(std::string_view json);
std::string encode_frame(const frame& f);

// What the socket server needs from an inbound frame: a request frame whose
// body is wrong must still be answered `err` under its id, while anything
// that is not a request frame gets no answer at all (spec: Transport).
//   error (errc::protocol)  -> not a request frame: log it, answer nothing
//   value with body error   -> answer {"result":"err"} with `id`
//   value with body request -> validate() it, then hand it to the actors
struct inbound_request {
  uint64_t id = 0;
  result<request> body;
};
result<inbound_request> decode_request_frame(std::string_view json);

// Bare objects: the HTTP API posts a request object and answers a response
// object. Text that is not a JSON object ("invalid JSON: <parse error>",
// "expected a JSON object, got [...]") is errc::protocol — HTTP's 400; an
// object with an unknown op or wrong fields is errc::invalid_argument — an
// `err` response, as on the socket.
result<request> decode_request(std::string_view json);
std::string encode_request(const request& r);
result<response> decode_response(std::string_view json);
std::string encode_response(const response& r);
result<event> decode_event(std::string_view json);
std::string encode_event(const event& e);

// Framed shorthands for the server and client.
std::string encode_request_frame(uint64_t id, const request& r);
std::string encode_response_frame(uint64_t id, const response& r);
std::string encode_event_frame(const event& e);

// "auto" | "shared" | "dedicated" | "isolated"; nullopt for anything else.
std::optional<overlay_mode> parse_overlay_mode(std::string_view s);

}  // namespace overlayd::ipc
