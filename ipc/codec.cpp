// JSON <-> ipc structs. Decoding goes through `reader` (a sticky-error view
// of one JSON object: the first failure is kept, later reads return defaults)
// so each struct decoder reads like its field list. Encoding builds an
// ordered_json so keys come out in insertion order, which we make the serde
// order: tag first, then declaration order.
#include "ipc/codec.hpp"

#include <array>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

namespace overlayd::ipc {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// ---- tag names, indexed like the variants in types.hpp ----------------------

constexpr std::array<const char*, 23> op_names = {
    "set_local_node_id",   "set_local_wg_pubkey",      "setup_global_overlay",
    "teardown_global_overlay", "setup_service_overlay", "teardown_service_overlay",
    "allocate_ip",         "release_ip",               "attach_container",
    "detach_container",    "add_peer",                 "remove_peer",
    "add_allowed_ip",      "remove_allowed_ip",        "register_dns",
    "unregister_dns",      "write_scoped_resolver",    "remove_scoped_resolver",
    "prune_orphan_bridges", "status",                  "nat_tick",
    "nat_status",          "shutdown"};
static_assert(op_names.size() == std::variant_size_v<request>);

constexpr std::array<const char*, 10> result_names = {
    "ok",          "bridge_name",    "service_overlay", "ip",         "attached",
    "guest_config", "pruned_bridges", "status",          "nat_status", "err"};
static_assert(result_names.size() == std::variant_size_v<response>);

constexpr std::array<const char*, 4> platform_names = {"linux_pid", "windows_container",
                                                       "host_shared", "guest_managed"};
static_assert(platform_names.size() == std::variant_size_v<attach_handle>);

constexpr std::array<const char*, 2> event_names = {"peer_health_changed",
                                                    "nat_endpoint_changed"};
static_assert(event_names.size() == std::variant_size_v<event>);

// ---- decoding ----------------------------------------------------------------

// Values quoted in error messages are cut to this: the input may be up to
// 8 MiB and the message goes into logs and `err` responses.
constexpr size_t max_shown = 64;

// A JSON value as it appears in an error message. Containers are not dumped
// (dump() recurses, and the nesting depth is the sender's choice).
std::string show(const json& v) {
  if (v.is_array()) return v.empty() ? "[]" : "[...]";
  if (v.is_object()) return v.empty() ? "{}" : "{...}";
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > max_shown) s = s.substr(0, max_shown) + "...";
  return s;
}

std::string show_text(std::string_view s) {
  if (s.size() > max_shown) return std::string(s.substr(0, max_shown)) + "...";
  return std::string(s);
}

class reader {
 public:
  reader(const json& obj, std::string prefix, std::optional<error>& err)
      : obj_(obj), prefix_(std::move(prefix)), err_(err) {}

  bool failed() const { return err_.has_value(); }
  std::string path(std::string_view key) const { return prefix_ + std::string(key); }

  void fail(std::string msg) {
    if (!err_) err_ = error(errc::invalid_argument, std::move(msg));
  }
  void fail_type(std::string_view key, std::string_view expected, const json& got) {
    fail("invalid field '" + path(key) + "': expected " + std::string(expected) + ", got " +
         show(got));
  }
  void fail_missing(std::string_view key) { fail("missing field '" + path(key) + "'"); }

  // The value under `key`; nullptr when absent or null (the two are alike).
  const json* find(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Required field: reports "missing field" and returns nullptr when absent.
  const json* need(std::string_view key) {
    const json* v = find(key);
    if (!v) fail_missing(key);
    return failed() ? nullptr : v;
  }

  std::string str(std::string_view key) { return to_str(key, need(key)); }
  std::optional<std::string> opt_str(std::string_view key) {
    const json* v = find(key);
    if (!v) return std::nullopt;
    return to_str(key, v);
  }

  bool boolean(std::string_view key) { return to_bool(key, need(key)); }
  bool bool_or(std::string_view key, bool dflt) {
    const json* v = find(key);
    return v ? to_bool(key, v) : dflt;
  }
  std::optional<bool> opt_bool(std::string_view key) {
    const json* v = find(key);
    if (!v) return std::nullopt;
    return to_bool(key, v);
  }

  template <class U>
  U uint(std::string_view key) {
    return to_uint<U>(key, need(key));
  }
  template <class U>
  U uint_or(std::string_view key, U dflt) {
    const json* v = find(key);
    return v ? to_uint<U>(key, v) : dflt;
  }
  template <class U>
  std::optional<U> opt_uint(std::string_view key) {
    const json* v = find(key);
    if (!v) return std::nullopt;
    return to_uint<U>(key, v);
  }

  int64_t i64(std::string_view key) {
    const json* v = need(key);
    if (!v) return 0;
    if (v->is_number_integer() && !v->is_number_unsigned()) return v->get<int64_t>();
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()))
      return static_cast<int64_t>(v->get<uint64_t>());
    fail_type(key, "i64", *v);
    return 0;
  }

  net::ip_address ip(std::string_view key) { return to_ip(key, need(key)); }
  std::optional<net::ip_address> opt_ip(std::string_view key) {
    const json* v = find(key);
    if (!v) return std::nullopt;
    return to_ip(key, v);
  }

  // A nested object: a reader over it with the path extended, or nullopt.
  std::optional<reader> object(std::string_view key) { return to_object(key, need(key)); }
  std::optional<reader> opt_object(std::string_view key) {
    const json* v = find(key);
    if (!v) return std::nullopt;
    return to_object(key, v);
  }

  // An array; `elem(value, path)` decodes each element.
  template <class T, class F>
  std::vector<T> list(std::string_view key, bool defaulted, F&& elem) {
    const json* v = defaulted ? find(key) : need(key);
    std::vector<T> out;
    if (!v || failed()) return out;
    if (!v->is_array()) {
      fail_type(key, "array", *v);
      return out;
    }
    out.reserve(v->size());
    for (size_t i = 0; i < v->size() && !failed(); ++i)
      out.push_back(elem((*v)[i], path(key) + "[" + std::to_string(i) + "]"));
    return out;
  }
  std::vector<std::string> str_list(std::string_view key, bool defaulted) {
    return list<std::string>(key, defaulted, [&](const json& e, const std::string& p) {
      if (e.is_string()) return e.get<std::string>();
      fail("invalid field '" + p + "': expected string, got " + show(e));
      return std::string();
    });
  }
  // An array of objects, each decoded by `read(reader&, T&)`.
  template <class T, class F>
  std::vector<T> obj_list(std::string_view key, bool defaulted, F&& read) {
    return list<T>(key, defaulted, [&](const json& e, const std::string& p) {
      T t{};
      if (!e.is_object()) {
        fail("invalid field '" + p + "': expected object, got " + show(e));
        return t;
      }
      reader sub(e, p + ".", err_);
      read(sub, t);
      return t;
    });
  }

 private:
  std::string to_str(std::string_view key, const json* v) {
    if (!v || failed()) return {};
    if (v->is_string()) return v->get<std::string>();
    fail_type(key, "string", *v);
    return {};
  }
  bool to_bool(std::string_view key, const json* v) {
    if (!v || failed()) return false;
    if (v->is_boolean()) return v->get<bool>();
    fail_type(key, "bool", *v);
    return false;
  }
  // serde rejects fractions, negatives and out-of-range values for unsigned
  // fields; so do we. "-0" parses as a signed zero and is accepted as 0.
  template <class U>
  U to_uint(std::string_view key, const json* v) {
    static_assert(std::is_unsigned_v<U>);
    if (!v || failed()) return 0;
    uint64_t x = 0;
    bool ok = false;
    if (v->is_number_unsigned()) {
      x = v->get<uint64_t>();
      ok = true;
    } else if (v->is_number_integer() && v->get<int64_t>() == 0) {
      ok = true;
    }
    if (ok && x <= std::numeric_limits<U>::max()) return static_cast<U>(x);
    fail_type(key, uint_name<U>(), *v);
    return 0;
  }
  template <class U>
  static const char* uint_name() {
    if constexpr (sizeof(U) == 1) return "u8";
    if constexpr (sizeof(U) == 2) return "u16";
    if constexpr (sizeof(U) == 4) return "u32";
    return "u64";
  }
  net::ip_address to_ip(std::string_view key, const json* v) {
    if (!v || failed()) return {};
    if (!v->is_string()) {
      fail_type(key, "IP address string", *v);
      return {};
    }
    auto ip = net::ip_address::parse(v->get_ref<const std::string&>());
    if (ip) return *ip;
    // net's message already quotes the value: "invalid IP address '10.0.0'".
    fail("invalid field '" + path(key) + "': " + show_text(ip.err().message));
    return {};
  }
  std::optional<reader> to_object(std::string_view key, const json* v) {
    if (!v || failed()) return std::nullopt;
    if (!v->is_object()) {
      fail_type(key, "object", *v);
      return std::nullopt;
    }
    return reader(*v, path(key) + ".", err_);
  }

  const json& obj_;
  std::string prefix_;
  std::optional<error>& err_;
};

// The variant alternative whose index is `idx`, decoded by read(reader&, T&).
template <class Variant, size_t I = 0>
Variant read_alternative(size_t idx, reader& rd) {
  if constexpr (I + 1 < std::variant_size_v<Variant>) {
    if (idx != I) return read_alternative<Variant, I + 1>(idx, rd);
  }
  std::variant_alternative_t<I, Variant> v{};
  read(rd, v);
  return Variant(std::in_place_index<I>, std::move(v));
}

// An internally tagged enum: the tag key may sit anywhere in the object.
template <class Variant, size_t N>
Variant read_tagged(reader& rd, const char* tag_key, const std::array<const char*, N>& names) {
  std::string tag = rd.str(tag_key);
  if (rd.failed()) return Variant{};
  for (size_t i = 0; i < N; ++i)
    if (tag == names[i]) return read_alternative<Variant>(i, rd);
  rd.fail("unknown " + std::string(tag_key) + " '" + show_text(tag) + "'");
  return Variant{};
}

// ---- shared types
void read(reader& rd, linux_pid& v) { v.pid = rd.uint<uint32_t>("pid"); }
void read(reader& rd, windows_container& v) {
  v.container_id = rd.str("container_id");
  v.ip = rd.opt_ip("ip");
}
void read(reader& rd, host_shared& v) { v.id = rd.str("id"); }
void read(reader& rd, guest_managed& v) { v.id = rd.str("id"); }

attach_handle read_handle(reader& rd, std::string_view key) {
  auto sub = rd.object(key);
  if (!sub) return attach_handle{};
  return read_tagged<attach_handle>(*sub, "platform", platform_names);
}

// PeerScope, tag "scope": {"scope":"global"} | {"scope":"service","service":"web"}.
// `present` reports whether the key was on the wire (for exact re-encoding).
peer_scope read_scope(reader& rd, bool& present) {
  present = false;
  auto sub = rd.opt_object("scope");
  if (!sub) return {};
  present = true;
  std::string tag = sub->str("scope");
  if (sub->failed()) return {};
  if (tag == "global") return {};
  if (tag == "service") return peer_scope{sub->str("service")};
  rd.fail("unknown scope '" + show_text(tag) + "'");
  return {};
}

overlay_mode read_mode(reader& rd, std::string_view key, std::optional<overlay_mode> dflt) {
  const json* v = dflt ? rd.find(key) : rd.need(key);
  if (!v) return dflt.value_or(overlay_mode::auto_);
  if (!v->is_string()) {
    rd.fail_type(key, "string", *v);
    return overlay_mode::auto_;
  }
  auto m = parse_overlay_mode(v->get_ref<const std::string&>());
  if (!m)
    rd.fail("invalid field '" + rd.path(key) + "': unknown overlay mode " + show(*v) +
            " (expected auto, shared, dedicated or isolated)");
  return m.value_or(overlay_mode::auto_);
}

void read(reader& rd, nat_candidate_wire& v) {
  v.candidate_type = rd.str("candidate_type");
  v.address = rd.str("address");
  v.priority = rd.uint<uint32_t>("priority");
}

void read(reader& rd, peer_spec& v) {
  v.public_key = rd.str("public_key");
  v.endpoint = rd.str("endpoint");
  v.allowed_ips = rd.str("allowed_ips");
  v.persistent_keepalive_secs = rd.uint<uint64_t>("persistent_keepalive_secs");
  v.candidates = rd.obj_list<nat_candidate_wire>(
      "candidates", true, [](reader& r, nat_candidate_wire& c) { read(r, c); });
}

void read(reader& rd, turn_server_spec& v) {
  v.addr = rd.str("addr");
  v.username = rd.str("username");
  v.credential = rd.str("credential");
}

void read(reader& rd, relay_server_spec& v) {
  v.listen_port = rd.uint<uint16_t>("listen_port");
  v.external_addr = rd.str("external_addr");
  v.max_sessions = rd.uint<uint64_t>("max_sessions");
  v.auth_credential = rd.opt_str("auth_credential");
}

// NatConfigSpec: every field defaulted.
void read(reader& rd, nat_config_spec& v) {
  v.enabled = rd.bool_or("enabled", false);
  v.stun_servers = rd.str_list("stun_servers", true);
  v.turn_servers = rd.obj_list<turn_server_spec>(
      "turn_servers", true, [](reader& r, turn_server_spec& t) { read(r, t); });
  v.hole_punch_timeout_secs = rd.uint_or<uint64_t>("hole_punch_timeout_secs", 0);
  v.stun_refresh_interval_secs = rd.uint_or<uint64_t>("stun_refresh_interval_secs", 0);
  v.max_candidate_pairs = rd.uint_or<uint64_t>("max_candidate_pairs", 0);
  if (auto sub = rd.opt_object("relay_server")) {
    relay_server_spec r;
    read(*sub, r);
    v.relay_server = std::move(r);
  }
}

void read(reader& rd, peer_status& v) {
  v.public_key = rd.str("public_key");
  v.endpoint = rd.str("endpoint");
  v.allowed_ips = rd.str("allowed_ips");
  v.last_handshake_unix_secs = rd.i64("last_handshake_unix_secs");
}

void read(reader& rd, dedicated_service_status& v) {
  v.service = rd.str("service");
  v.interface = rd.str("interface");
  v.public_key = rd.str("public_key");
  v.listen_port = rd.uint<uint16_t>("listen_port");
  v.overlay_ip = rd.ip("overlay_ip");
  v.subnet = rd.str("subnet");
  v.peer_count = rd.uint<uint32_t>("peer_count");
}

void read(reader& rd, status_snapshot& v) {
  v.interface = rd.opt_str("interface");
  v.node_ip = rd.opt_ip("node_ip");
  v.public_key = rd.opt_str("public_key");
  v.overlay_cidr = rd.opt_str("overlay_cidr");
  v.slice_cidr = rd.opt_str("slice_cidr");
  v.peer_count = rd.uint<uint32_t>("peer_count");
  v.service_count = rd.uint<uint32_t>("service_count");
  v.peers = rd.obj_list<peer_status>("peers", true, [](reader& r, peer_status& p) { read(r, p); });
  v.dedicated_services = rd.obj_list<dedicated_service_status>(
      "dedicated_services", true, [](reader& r, dedicated_service_status& d) { read(r, d); });
}

void read(reader& rd, service_overlay_info& v) {
  v.name = rd.str("name");
  v.mode = read_mode(rd, "mode", std::nullopt);
  v.wg_public_key = rd.opt_str("wg_public_key");
  v.wg_port = rd.opt_uint<uint16_t>("wg_port");
  v.overlay_ip = rd.opt_ip("overlay_ip");
  v.subnet = rd.opt_str("subnet");
}

void read(reader& rd, attach_result& v) {
  v.ip = rd.ip("ip");
  v.namespace_guid = rd.opt_str("namespace_guid");
}

void read(reader& rd, guest_overlay_config& v) {
  v.overlay_ip = rd.ip("overlay_ip");
  v.prefix_len = rd.uint<uint8_t>("prefix_len");
  v.private_key = rd.str("private_key");
  v.public_key = rd.str("public_key");
  v.listen_port = rd.uint<uint16_t>("listen_port");
  v.peers = rd.obj_list<peer_spec>("peers", false, [](reader& r, peer_spec& p) { read(r, p); });
  v.dns_server = rd.opt_ip("dns_server");
  v.dns_domain = rd.opt_str("dns_domain");
}

void read(reader& rd, nat_peer_wire& v) {
  v.node_id = rd.str("node_id");
  v.connection_type = rd.str("connection_type");
  v.remote_endpoint = rd.opt_str("remote_endpoint");
}

void read(reader& rd, nat_status_wire& v) {
  v.candidates = rd.obj_list<nat_candidate_wire>(
      "candidates", false, [](reader& r, nat_candidate_wire& c) { read(r, c); });
  v.peers =
      rd.obj_list<nat_peer_wire>("peers", false, [](reader& r, nat_peer_wire& p) { read(r, p); });
  v.last_refresh = rd.uint<uint64_t>("last_refresh");
}

// ---- requests
void read(reader& rd, req::set_local_node_id& v) { v.node_id = rd.uint<uint64_t>("node_id"); }
void read(reader& rd, req::set_local_wg_pubkey& v) { v.pubkey = rd.str("pubkey"); }
void read(reader& rd, req::setup_global_overlay& v) {
  v.deployment = rd.str("deployment");
  v.instance_id = rd.str("instance_id");
  v.cluster_cidr = rd.str("cluster_cidr");
  v.slice_cidr = rd.opt_str("slice_cidr");
  v.wg_port = rd.uint<uint16_t>("wg_port");
  if (auto sub = rd.opt_object("nat")) {
    nat_config_spec n;
    read(*sub, n);
    v.nat = std::move(n);
  }
  v.host_adapter_mandatory = rd.bool_or("host_adapter_mandatory", false);
  v.nat_enabled = rd.opt_bool("nat_enabled");
}
void read(reader&, req::teardown_global_overlay&) {}
void read(reader& rd, req::setup_service_overlay& v) {
  v.service = rd.str("service");
  v.mode = read_mode(rd, "mode", overlay_mode::auto_);
}
void read(reader& rd, req::teardown_service_overlay& v) { v.service = rd.str("service"); }
void read(reader& rd, req::allocate_ip& v) {
  v.service = rd.str("service");
  v.join_global = rd.bool_or("join_global", false);
}
void read(reader& rd, req::release_ip& v) { v.ip = rd.ip("ip"); }
void read(reader& rd, req::attach_container& v) {
  v.handle = read_handle(rd, "handle");
  v.service = rd.str("service");
  v.join_global = rd.bool_or("join_global", false);
  v.dns_server = rd.opt_ip("dns_server");
  v.dns_domain = rd.opt_str("dns_domain");
  v.ephemeral = rd.bool_or("ephemeral", false);
  v.isolation_network = rd.opt_str("isolation_network");
}
void read(reader& rd, req::detach_container& v) { v.handle = read_handle(rd, "handle"); }
void read(reader& rd, req::add_peer& v) {
  read(rd, v.peer);  // flattened: the PeerSpec fields sit in the request object
  v.scope = read_scope(rd, v.scope_present);
}
void read(reader& rd, req::remove_peer& v) {
  v.pubkey = rd.str("pubkey");
  v.scope = read_scope(rd, v.scope_present);
}
void read(reader& rd, req::add_allowed_ip& v) {
  v.pubkey = rd.str("pubkey");
  v.cidr = rd.str("cidr");
  v.scope = read_scope(rd, v.scope_present);
}
void read(reader& rd, req::remove_allowed_ip& v) {
  v.pubkey = rd.str("pubkey");
  v.cidr = rd.str("cidr");
  v.scope = read_scope(rd, v.scope_present);
}
void read(reader& rd, req::register_dns& v) {
  v.name = rd.str("name");
  v.ip = rd.ip("ip");
}
void read(reader& rd, req::unregister_dns& v) { v.name = rd.str("name"); }
void read(reader& rd, req::write_scoped_resolver& v) {
  v.zone = rd.str("zone");
  v.node_ip = rd.ip("node_ip");
  v.port = rd.opt_uint<uint16_t>("port");
}
void read(reader& rd, req::remove_scoped_resolver& v) { v.zone = rd.str("zone"); }
void read(reader& rd, req::prune_orphan_bridges& v) {
  v.live_bridge_names = rd.str_list("live_bridge_names", false);
}
void read(reader&, req::status&) {}
void read(reader&, req::nat_tick&) {}
void read(reader&, req::nat_status&) {}
void read(reader&, req::shutdown&) {}

// ---- responses (newtypes read their struct from the response object itself)
void read(reader&, resp::ok&) {}
void read(reader& rd, resp::bridge_name& v) { v.name = rd.str("name"); }
void read(reader& rd, resp::service_overlay& v) { read(rd, v.info); }
void read(reader& rd, resp::ip& v) { v.ip = rd.ip("ip"); }
void read(reader& rd, resp::attached& v) { read(rd, v.result); }
void read(reader& rd, resp::guest_config& v) { read(rd, v.config); }
void read(reader& rd, resp::pruned_bridges& v) { v.reclaimed = rd.str_list("reclaimed", false); }
void read(reader& rd, resp::status& v) { read(rd, v.snapshot); }
void read(reader& rd, resp::nat_status& v) { read(rd, v.snapshot); }
void read(reader& rd, resp::err& v) { v.message = rd.str("message"); }

// ---- events
void read(reader& rd, ev::peer_health_changed& v) {
  v.pubkey = rd.str("pubkey");
  v.healthy = rd.boolean("healthy");
}
void read(reader& rd, ev::nat_endpoint_changed& v) {
  v.pubkey = rd.str("pubkey");
  v.endpoint = rd.str("endpoint");
}

// ---- entry points

// Parses JSON text. Invalid UTF-8 inside strings, lone surrogates, trailing
// garbage and comments are all errors (serde_json rejects them too).
result<json> parse_json(std::string_view text, errc code) {
  // nlohmann's lexer takes a NUL byte for the end of input and would accept
  // "{...}\0garbage"; a raw NUL is never valid JSON (serde_json says so too).
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    return error(code, "invalid JSON: NUL byte at offset " + std::to_string(nul));
  // Bounds on what one frame may build: an 8 MiB frame of tiny values
  // ("[0,0,0,...") would otherwise cost ~270 MB of json nodes.
  size_t values = 0;
  bool too_many = false, too_deep = false;
  const json::parser_callback_t bound = [&](int depth, json::parse_event_t ev, json&) {
    if (ev == json::parse_event_t::key) return true;
    if (depth > static_cast<int>(max_json_depth)) too_deep = true;
    if (++values > max_json_values) too_many = true;
    if (too_deep || too_many) throw std::length_error("bound");
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), bound, true, false);
  } catch (const std::length_error&) {
    if (too_deep) return error(code, "invalid JSON: nested deeper than " + std::to_string(max_json_depth) + " levels");
    return error(code, "invalid JSON: more than " + std::to_string(max_json_values) + " values in one message");
  } catch (const std::exception& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (!what.empty() && what[0] == '[') {
      auto close = what.find("] ");
      if (close != std::string::npos) what.erase(0, close + 2);
    }
    return error(code, "invalid JSON: " + what);
  }
}

// Decodes a tagged object as the root of the field paths.
template <class Variant, size_t N>
result<Variant> decode_tagged(const json& obj, const char* tag_key,
                              const std::array<const char*, N>& names) {
  if (!obj.is_object())
    return error(errc::invalid_argument, "expected a JSON object, got " + show(obj));
  std::optional<error> err;
  try {
    reader rd(obj, "", err);
    Variant v = read_tagged<Variant>(rd, tag_key, names);
    if (!err) return v;
  } catch (const std::exception& e) {
    err = error(errc::invalid_argument, std::string("cannot decode: ") + e.what());
  }
  return std::move(*err);
}

// A bare object: text that is not a JSON object at all is errc::protocol (an
// HTTP 400), an object with wrong fields errc::invalid_argument (an `err`).
template <class Variant, size_t N>
result<Variant> decode_text(std::string_view text, const char* tag_key,
                            const std::array<const char*, N>& names) {
  auto doc = parse_json(text, errc::protocol);
  if (!doc) return std::move(doc).err();
  if (!doc->is_object())
    return error(errc::protocol, "expected a JSON object, got " + show(*doc));
  return decode_tagged<Variant>(*doc, tag_key, names);
}

error not_a_frame(std::string why) { return error(errc::protocol, "not a frame: " + why); }

// The envelope's "frame" tag and, for request/response, its "id".
struct envelope {
  std::string kind;
  uint64_t id = 0;
};
result<envelope> read_envelope(const json& doc) {
  if (!doc.is_object()) return not_a_frame("expected a JSON object, got " + show(doc));
  std::optional<error> err;
  reader rd(doc, "", err);
  envelope env;
  env.kind = rd.str("frame");
  if (err) return not_a_frame(err->message);
  if (env.kind == "request" || env.kind == "response") {
    env.id = rd.uint<uint64_t>("id");
    if (err) return not_a_frame(err->message);
  } else if (env.kind != "event") {
    return not_a_frame("unknown frame '" + show_text(env.kind) + "'");
  }
  return env;
}

// The request/response body of a frame: a nested object under `key`.
template <class Variant, size_t N>
result<Variant> decode_body(const json& doc, const char* key, const char* tag_key,
                            const std::array<const char*, N>& names) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null())
    return error(errc::invalid_argument, "missing field '" + std::string(key) + "'");
  if (!it->is_object())
    return error(errc::invalid_argument,
                 "invalid field '" + std::string(key) + "': expected object, got " + show(*it));
  return decode_tagged<Variant>(*it, tag_key, names);
}

// ---- encoding ----------------------------------------------------------------

template <class T>
void put_opt(ojson& o, const char* key, const std::optional<T>& v) {
  if (v) o[key] = *v;
}
void put_opt(ojson& o, const char* key, const std::optional<net::ip_address>& v) {
  if (v) o[key] = v->to_string();
}

void write(ojson& o, const linux_pid& v) { o["pid"] = v.pid; }
void write(ojson& o, const windows_container& v) {
  o["container_id"] = v.container_id;
  put_opt(o, "ip", v.ip);
}
void write(ojson& o, const host_shared& v) { o["id"] = v.id; }
void write(ojson& o, const guest_managed& v) { o["id"] = v.id; }

ojson handle_json(const attach_handle& h) {
  ojson o = ojson::object();
  o["platform"] = platform_names[h.index()];
  std::visit([&](const auto& x) { write(o, x); }, h);
  return o;
}

// Written when it was on the wire, and always when it is not the default
// (so a struct built in code never loses a service scope).
void put_scope(ojson& o, const peer_scope& s, bool present) {
  if (!present && s.is_global()) return;
  ojson so = ojson::object();
  so["scope"] = s.is_global() ? "global" : "service";
  if (s.service) so["service"] = *s.service;
  o["scope"] = std::move(so);
}

ojson to_json(const nat_candidate_wire& v) {
  ojson o = ojson::object();
  o["candidate_type"] = v.candidate_type;
  o["address"] = v.address;
  o["priority"] = v.priority;
  return o;
}

// Declared up front: array_of() finds them by ordinary lookup, not ADL.
ojson to_json(const nat_candidate_wire& v);
ojson to_json(const peer_spec& v);
ojson to_json(const turn_server_spec& v);
ojson to_json(const peer_status& v);
ojson to_json(const dedicated_service_status& v);
ojson to_json(const nat_peer_wire& v);

template <class T>
ojson array_of(const std::vector<T>& items) {
  ojson a = ojson::array();
  for (const auto& x : items) a.push_back(to_json(x));
  return a;
}

// PeerSpec fields into `o` (also used flattened into add_peer). The empty
// candidate list is omitted: the spec's add_peer examples carry none.
void write(ojson& o, const peer_spec& v) {
  o["public_key"] = v.public_key;
  o["endpoint"] = v.endpoint;
  o["allowed_ips"] = v.allowed_ips;
  o["persistent_keepalive_secs"] = v.persistent_keepalive_secs;
  if (!v.candidates.empty()) o["candidates"] = array_of(v.candidates);
}
ojson to_json(const peer_spec& v) {
  ojson o = ojson::object();
  write(o, v);
  return o;
}

ojson to_json(const turn_server_spec& v) {
  ojson o = ojson::object();
  o["addr"] = v.addr;
  o["username"] = v.username;
  o["credential"] = v.credential;
  return o;
}

ojson to_json(const relay_server_spec& v) {
  ojson o = ojson::object();
  o["listen_port"] = v.listen_port;
  o["external_addr"] = v.external_addr;
  o["max_sessions"] = v.max_sessions;
  put_opt(o, "auth_credential", v.auth_credential);
  return o;
}

ojson to_json(const nat_config_spec& v) {
  ojson o = ojson::object();
  o["enabled"] = v.enabled;
  o["stun_servers"] = v.stun_servers;
  o["turn_servers"] = array_of(v.turn_servers);
  o["hole_punch_timeout_secs"] = v.hole_punch_timeout_secs;
  o["stun_refresh_interval_secs"] = v.stun_refresh_interval_secs;
  o["max_candidate_pairs"] = v.max_candidate_pairs;
  if (v.relay_server) o["relay_server"] = to_json(*v.relay_server);
  return o;
}

ojson to_json(const peer_status& v) {
  ojson o = ojson::object();
  o["public_key"] = v.public_key;
  o["endpoint"] = v.endpoint;
  o["allowed_ips"] = v.allowed_ips;
  o["last_handshake_unix_secs"] = v.last_handshake_unix_secs;
  return o;
}

ojson to_json(const dedicated_service_status& v) {
  ojson o = ojson::object();
  o["service"] = v.service;
  o["interface"] = v.interface;
  o["public_key"] = v.public_key;
  o["listen_port"] = v.listen_port;
  o["overlay_ip"] = v.overlay_ip.to_string();
  o["subnet"] = v.subnet;
  o["peer_count"] = v.peer_count;
  return o;
}

void write(ojson& o, const status_snapshot& v) {
  put_opt(o, "interface", v.interface);
  put_opt(o, "node_ip", v.node_ip);
  put_opt(o, "public_key", v.public_key);
  put_opt(o, "overlay_cidr", v.overlay_cidr);
  put_opt(o, "slice_cidr", v.slice_cidr);
  o["peer_count"] = v.peer_count;
  o["service_count"] = v.service_count;
  if (!v.peers.empty()) o["peers"] = array_of(v.peers);
  if (!v.dedicated_services.empty()) o["dedicated_services"] = array_of(v.dedicated_services);
}

void write(ojson& o, const service_overlay_info& v) {
  o["name"] = v.name;
  o["mode"] = to_string(v.mode);
  put_opt(o, "wg_public_key", v.wg_public_key);
  put_opt(o, "wg_port", v.wg_port);
  put_opt(o, "overlay_ip", v.overlay_ip);
  put_opt(o, "subnet", v.subnet);
}

void write(ojson& o, const attach_result& v) {
  o["ip"] = v.ip.to_string();
  put_opt(o, "namespace_guid", v.namespace_guid);
}

void write(ojson& o, const guest_overlay_config& v) {
  o["overlay_ip"] = v.overlay_ip.to_string();
  o["prefix_len"] = v.prefix_len;
  o["private_key"] = v.private_key;
  o["public_key"] = v.public_key;
  o["listen_port"] = v.listen_port;
  o["peers"] = array_of(v.peers);
  put_opt(o, "dns_server", v.dns_server);
  put_opt(o, "dns_domain", v.dns_domain);
}

ojson to_json(const nat_peer_wire& v) {
  ojson o = ojson::object();
  o["node_id"] = v.node_id;
  o["connection_type"] = v.connection_type;
  put_opt(o, "remote_endpoint", v.remote_endpoint);
  return o;
}

void write(ojson& o, const nat_status_wire& v) {
  o["candidates"] = array_of(v.candidates);
  o["peers"] = array_of(v.peers);
  o["last_refresh"] = v.last_refresh;
}

// ---- requests
void write(ojson& o, const req::set_local_node_id& v) { o["node_id"] = v.node_id; }
void write(ojson& o, const req::set_local_wg_pubkey& v) { o["pubkey"] = v.pubkey; }
void write(ojson& o, const req::setup_global_overlay& v) {
  o["deployment"] = v.deployment;
  o["instance_id"] = v.instance_id;
  o["cluster_cidr"] = v.cluster_cidr;
  put_opt(o, "slice_cidr", v.slice_cidr);
  o["wg_port"] = v.wg_port;
  if (v.nat) o["nat"] = to_json(*v.nat);
  o["host_adapter_mandatory"] = v.host_adapter_mandatory;
  put_opt(o, "nat_enabled", v.nat_enabled);
}
void write(ojson&, const req::teardown_global_overlay&) {}
void write(ojson& o, const req::setup_service_overlay& v) {
  o["service"] = v.service;
  o["mode"] = to_string(v.mode);
}
void write(ojson& o, const req::teardown_service_overlay& v) { o["service"] = v.service; }
void write(ojson& o, const req::allocate_ip& v) {
  o["service"] = v.service;
  o["join_global"] = v.join_global;
}
void write(ojson& o, const req::release_ip& v) { o["ip"] = v.ip.to_string(); }
// `ephemeral` is written only when true: the spec's attach example (a
// non-ephemeral attach) carries no such key, as serde's skip-if-false gives.
void write(ojson& o, const req::attach_container& v) {
  o["handle"] = handle_json(v.handle);
  o["service"] = v.service;
  o["join_global"] = v.join_global;
  put_opt(o, "dns_server", v.dns_server);
  put_opt(o, "dns_domain", v.dns_domain);
  if (v.ephemeral) o["ephemeral"] = true;
  put_opt(o, "isolation_network", v.isolation_network);
}
void write(ojson& o, const req::detach_container& v) { o["handle"] = handle_json(v.handle); }
void write(ojson& o, const req::add_peer& v) {
  write(o, v.peer);
  put_scope(o, v.scope, v.scope_present);
}
void write(ojson& o, const req::remove_peer& v) {
  o["pubkey"] = v.pubkey;
  put_scope(o, v.scope, v.scope_present);
}
void write(ojson& o, const req::add_allowed_ip& v) {
  o["pubkey"] = v.pubkey;
  o["cidr"] = v.cidr;
  put_scope(o, v.scope, v.scope_present);
}
void write(ojson& o, const req::remove_allowed_ip& v) {
  o["pubkey"] = v.pubkey;
  o["cidr"] = v.cidr;
  put_scope(o, v.scope, v.scope_present);
}
void write(ojson& o, const req::register_dns& v) {
  o["name"] = v.name;
  o["ip"] = v.ip.to_string();
}
void write(ojson& o, const req::unregister_dns& v) { o["name"] = v.name; }
void write(ojson& o, const req::write_scoped_resolver& v) {
  o["zone"] = v.zone;
  o["node_ip"] = v.node_ip.to_string();
  put_opt(o, "port", v.port);
}
void write(ojson& o, const req::remove_scoped_resolver& v) { o["zone"] = v.zone; }
void write(ojson& o, const req::prune_orphan_bridges& v) {
  o["live_bridge_names"] = v.live_bridge_names;
}
void write(ojson&, const req::status&) {}
void write(ojson&, const req::nat_tick&) {}
void write(ojson&, const req::nat_status&) {}
void write(ojson&, const req::shutdown&) {}

// ---- responses
void write(ojson&, const resp::ok&) {}
void write(ojson& o, const resp::bridge_name& v) { o["name"] = v.name; }
void write(ojson& o, const resp::service_overlay& v) { write(o, v.info); }
void write(ojson& o, const resp::ip& v) { o["ip"] = v.ip.to_string(); }
void write(ojson& o, const resp::attached& v) { write(o, v.result); }
void write(ojson& o, const resp::guest_config& v) { write(o, v.config); }
void write(ojson& o, const resp::pruned_bridges& v) { o["reclaimed"] = v.reclaimed; }
void write(ojson& o, const resp::status& v) { write(o, v.snapshot); }
void write(ojson& o, const resp::nat_status& v) { write(o, v.snapshot); }
void write(ojson& o, const resp::err& v) { o["message"] = v.message; }

// ---- events
void write(ojson& o, const ev::peer_health_changed& v) {
  o["pubkey"] = v.pubkey;
  o["healthy"] = v.healthy;
}
void write(ojson& o, const ev::nat_endpoint_changed& v) {
  o["pubkey"] = v.pubkey;
  o["endpoint"] = v.endpoint;
}

// Tag first, then the variant's fields, into `o` (which may already hold the
// frame envelope: an event merges into it).
template <class Variant, size_t N>
void write_tagged(ojson& o, const char* tag_key, const std::array<const char*, N>& names,
                  const Variant& v) {
  o[tag_key] = names[v.index()];
  std::visit([&](const auto& x) { write(o, x); }, v);
}

template <class Variant, size_t N>
ojson tagged_json(const char* tag_key, const std::array<const char*, N>& names, const Variant& v) {
  ojson o = ojson::object();
  write_tagged(o, tag_key, names, v);
  return o;
}

// serde_json's compact form: no spaces, non-ASCII written raw, control
// characters as \u00XX except \b \f \n \r \t, '/' unescaped. Strings we hold
// are UTF-8 by construction; should one not be, its bad bytes become U+FFFD
// (what Rust's from_utf8_lossy gives) rather than a throw.
std::string dump(const ojson& o) { return o.dump(-1, ' ', false, ojson::error_handler_t::replace); }

ojson envelope_json(const char* kind, uint64_t id) {
  ojson o = ojson::object();
  o["frame"] = kind;
  o["id"] = id;
  return o;
}
ojson request_frame_json(uint64_t id, const request& r) {
  ojson o = envelope_json("request", id);
  o["request"] = tagged_json("op", op_names, r);
  return o;
}
ojson response_frame_json(uint64_t id, const response& r) {
  ojson o = envelope_json("response", id);
  o["response"] = tagged_json("result", result_names, r);
  return o;
}
// An event frame is a newtype around an internally tagged enum: its tag and
// fields merge into the frame object.
ojson event_frame_json(const event& e) {
  ojson o = ojson::object();
  o["frame"] = "event";
  write_tagged(o, "event", event_names, e);
  return o;
}

ojson frame_json(const frame& f) {
  if (auto* r = std::get_if<request_frame>(&f)) return request_frame_json(r->id, r->body);
  if (auto* r = std::get_if<response_frame>(&f)) return response_frame_json(r->id, r->body);
  return event_frame_json(std::get<event_frame>(f).body);
}

}  // namespace

const char* op_name(const request& r) { return op_names[r.index()]; }
const char* result_name(const response& r) { return result_names[r.index()]; }

std::optional<overlay_mode> parse_overlay_mode(std::string_view s) {
  for (auto m : {overlay_mode::auto_, overlay_mode::shared, overlay_mode::dedicated,
                 overlay_mode::isolated})
    if (s == to_string(m)) return m;
  return std::nullopt;
}

result<frame> decode_frame(std::string_view text) {
  auto doc = parse_json(text, errc::protocol);
  if (!doc) return std::move(doc).err();
  auto env = read_envelope(*doc);
  if (!env) return std::move(env).err();
  if (env->kind == "request") {
    auto body = decode_body<request>(*doc, "request", "op", op_names);
    if (!body) return std::move(body).err();
    return frame(request_frame{env->id, std::move(*body)});
  }
  if (env->kind == "response") {
    auto body = decode_body<response>(*doc, "response", "result", result_names);
    if (!body) return std::move(body).err();
    return frame(response_frame{env->id, std::move(*body)});
  }
  auto body = decode_tagged<event>(*doc, "event", event_names);
  if (!body) return std::move(body).err();
  return frame(event_frame{std::move(*body)});
}

result<inbound_request> decode_request_frame(std::string_view text) {
  auto doc = parse_json(text, errc::protocol);
  if (!doc) return std::move(doc).err();
  auto env = read_envelope(*doc);
  if (!env) return std::move(env).err();
  if (env->kind != "request")
    return error(errc::protocol, "not a request frame: frame '" + env->kind + "'");
  return inbound_request{env->id, decode_body<request>(*doc, "request", "op", op_names)};
}

std::string encode_frame(const frame& f) { return dump(frame_json(f)); }

result<request> decode_request(std::string_view text) {
  return decode_text<request>(text, "op", op_names);
}
std::string encode_request(const request& r) { return dump(tagged_json("op", op_names, r)); }

result<response> decode_response(std::string_view text) {
  return decode_text<response>(text, "result", result_names);
}
std::string encode_response(const response& r) {
  return dump(tagged_json("result", result_names, r));
}

result<event> decode_event(std::string_view text) {
  return decode_text<event>(text, "event", event_names);
}
std::string encode_event(const event& e) { return dump(tagged_json("event", event_names, e)); }

std::string encode_request_frame(uint64_t id, const request& r) {
  return dump(request_frame_json(id, r));
}
std::string encode_response_frame(uint64_t id, const response& r) {
  return dump(response_frame_json(id, r));
}
std::string encode_event_frame(const event& e) { return dump(event_frame_json(e)); }

}  // namespace overlayd::ipc
