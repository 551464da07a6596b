#include "ipc/validate.hpp"

#include "net/names.hpp"

#include <sodium.h>

#include <string>

#include "net/ip.hpp"

namespace overlayd::ipc {
namespace {

constexpr size_t wg_key_bytes = 32;

// A value as quoted in a message: values can be megabytes long, and control
// characters are written \xNN so that a message shows what was sent.
std::string shown(std::string_view v) {
  constexpr size_t max_shown = 64;
  std::string out;
  for (unsigned char c : v.substr(0, max_shown)) {
    if (c < 0x20 || c == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (v.size() > max_shown) out += "...";
  return out;
}

error invalid(std::string msg) { return error(errc::invalid_argument, std::move(msg)); }

error invalid_field(std::string_view field, std::string_view why) {
  return invalid("invalid field '" + std::string(field) + "': " + std::string(why));
}

// The cause from net's "invalid CIDR '<text>': <cause>" style messages, so
// ours can follow the seed's "invalid cluster CIDR <text>: <cause>".
std::string cause(const error& e, std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "': ";
  auto at = e.message.find(quoted);
  return at == std::string::npos ? e.message : e.message.substr(at + quoted.size());
}

// Names (services, deployments, networks, handle ids, zones) end up in
// interface-name hashes, marker owners, nft set ids and log lines: bounded,
// and no control characters. May be empty only where the contract allows it.
status check_name(std::string_view field, const std::string& v, bool may_be_empty = false) {
  if (v.empty()) return may_be_empty ? status{} : invalid_field(field, "must not be empty");
  if (v.size() > max_name_bytes)
    return invalid_field(field, "'" + shown(v) + "' is longer than " + std::to_string(max_name_bytes) +
                                    " bytes");
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f) return invalid_field(field, "'" + shown(v) + "' contains a control character");
  return {};
}

// A service name; the shared bridge's registry key can never be one.
status check_service(std::string_view field, const std::string& v) {
  OVERLAYD_TRY(check_name(field, v));
  if (v == reserved_shared_bridge_key)
    return invalid_field(field, "'" + v + "' is reserved for the node-wide shared bridge");
  return {};
}

// A DNS domain as the overlay DNS serves it: labels of 1..63 letters,
// digits, '-' or '_', at most 253 bytes, an optional trailing dot, not the root.
status check_dns_domain(std::string_view field, const std::string& v) {
  std::string_view d = v;
  if (!d.empty() && d.back() == '.') d.remove_suffix(1);
  if (d.empty()) return invalid_field(field, "'" + shown(v) + "' is not a DNS domain (empty or the root)");
  if (d.size() > 253) return invalid_field(field, "'" + shown(v) + "' is longer than 253 bytes");
  size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0) return invalid_field(field, "'" + shown(v) + "' has an empty label");
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok)
      return invalid_field(field, "'" + shown(v) + "': only letters, digits, '-' and '_' in labels");
    if (++label > 63) return invalid_field(field, "'" + shown(v) + "' has a label longer than 63 bytes");
  }
  if (label == 0) return invalid_field(field, "'" + shown(v) + "' has an empty label");
  return {};
}

status check_cidr(const std::string& text) {
  auto c = net::cidr::parse(text);
  if (!c) return invalid("invalid CIDR " + shown(text) + ": " + cause(c.err(), text));
  return {};
}

// Seed wording: "invalid cluster CIDR <c>: <cause>", "invalid slice CIDR ...";
// the slice must lie inside the cluster, in the same family.
status check_cluster(const req::setup_global_overlay& r) {
  auto cluster = net::cidr::parse(r.cluster_cidr);
  if (!cluster)
    return invalid("invalid cluster CIDR " + shown(r.cluster_cidr) + ": " +
                   cause(cluster.err(), r.cluster_cidr));
  if (!r.slice_cidr) {
    // Without a slice the node takes the default slice's first host (seed):
    // a cluster that does not hold it would put the node outside its own
    // overlay (or in the other address family).
    const net::cidr def = *net::cidr::parse(std::string(default_node_slice));
    if (!cluster->contains(def.network().plus(1)))
      return invalid("slice_cidr is required: cluster CIDR " + shown(r.cluster_cidr) +
                     " does not contain the default node slice " + std::string(default_node_slice));
    return {};
  }
  const std::string& text = *r.slice_cidr;
  auto slice = net::cidr::parse(text);
  if (!slice) return invalid("invalid slice CIDR " + shown(text) + ": " + cause(slice.err(), text));
  if (slice->fam() != cluster->fam())
    return invalid("invalid slice CIDR " + shown(text) +
                   ": not the same address family as cluster CIDR " + r.cluster_cidr);
  if (!cluster->contains(*slice))
    return invalid("invalid slice CIDR " + shown(text) + ": not inside cluster CIDR " +
                   r.cluster_cidr);
  // The node IP is the first usable host and containers take the next ones:
  // a /31 or /32 (/127, /128) has no room (its "first usable" is outside it).
  const unsigned max_prefix = slice->fam() == net::family::v4 ? 30 : 126;
  if (slice->prefix_len() > max_prefix)
    return invalid("invalid slice CIDR " + shown(text) + ": too small for the node IP and a container (at most /" +
                   std::to_string(max_prefix) + ")");
  return {};
}

status check_candidate(const nat_candidate_wire& c, const std::string& path) {
  if (c.candidate_type != "host" && c.candidate_type != "server-reflexive" &&
      c.candidate_type != "relay")
    return invalid_field(
        path + ".candidate_type",
        "'" + shown(c.candidate_type) +
            "' is not a candidate type (expected host, server-reflexive or relay)");
  auto ep = net::endpoint::parse(c.address);
  if (!ep) return invalid_field(path + ".address", shown(ep.err().message));
  return {};
}

status check_scope(const peer_scope& s) {
  if (s.service) return check_service("scope.service", *s.service);
  return {};
}

status check_handle(const attach_handle& h) {
  if (auto* p = std::get_if<linux_pid>(&h)) {
    if (p->pid == 0) return invalid_field("handle.pid", "must not be 0");
    return {};
  }
  if (auto* w = std::get_if<windows_container>(&h))
    return check_name("handle.container_id", w->container_id);
  if (auto* s = std::get_if<host_shared>(&h)) return check_name("handle.id", s->id);
  return check_name("handle.id", std::get<guest_managed>(h).id);
}

// ---- one check per op; ops with nothing to check accept.

template <class T>
status check(const T&) {
  return {};
}

status check(const req::set_local_wg_pubkey& r) { return validate_wg_key("pubkey", r.pubkey); }

status check(const req::setup_global_overlay& r) {
  OVERLAYD_TRY(check_name("deployment", r.deployment));
  OVERLAYD_TRY(check_name("instance_id", r.instance_id, true));
  OVERLAYD_TRY(check_cluster(r));
  if (r.wg_port == 0) return invalid_field("wg_port", "must not be 0");
  return {};
}

status check(const req::setup_service_overlay& r) { return check_service("service", r.service); }
status check(const req::teardown_service_overlay& r) { return check_service("service", r.service); }
status check(const req::allocate_ip& r) { return check_service("service", r.service); }

status check(const req::attach_container& r) {
  OVERLAYD_TRY(check_handle(r.handle));
  OVERLAYD_TRY(check_service("service", r.service));
  if (r.isolation_network)
    if (auto why = net::isolation_network_name_problem(*r.isolation_network); !why.empty())
      return invalid_field("isolation_network",
                           r.isolation_network->empty() ? why : "'" + shown(*r.isolation_network) + "' " + why);
  if (r.dns_domain) OVERLAYD_TRY(check_dns_domain("dns_domain", *r.dns_domain));
  return {};
}

status check(const req::detach_container& r) { return check_handle(r.handle); }

status check(const req::add_peer& r) {
  OVERLAYD_TRY(validate_peer_spec(r.peer));
  return check_scope(r.scope);
}

status check(const req::remove_peer& r) {
  OVERLAYD_TRY(validate_wg_key("pubkey", r.pubkey));
  return check_scope(r.scope);
}

status check(const req::add_allowed_ip& r) {
  OVERLAYD_TRY(validate_wg_key("pubkey", r.pubkey));
  OVERLAYD_TRY(check_cidr(r.cidr));
  return check_scope(r.scope);
}

status check(const req::remove_allowed_ip& r) {
  OVERLAYD_TRY(validate_wg_key("pubkey", r.pubkey));
  OVERLAYD_TRY(check_cidr(r.cidr));
  return check_scope(r.scope);
}

status check(const req::register_dns& r) { return check_name("name", r.name); }
status check(const req::unregister_dns& r) { return check_name("name", r.name); }

status check(const req::write_scoped_resolver& r) {
  OVERLAYD_TRY(check_name("zone", r.zone));
  if (r.port && *r.port == 0) return invalid_field("port", "must not be 0");
  return {};
}

status check(const req::remove_scoped_resolver& r) { return check_name("zone", r.zone); }

}  // namespace

status validate_wg_key(std::string_view field, std::string_view base64) {
  // Strict RFC 4648 with padding, no whitespace, no trailing bits set: a
  // WireGuard key is exactly 44 characters ending in '='. One spare byte in
  // the buffer tells "too long" apart from a decode failure; both are errors.
  unsigned char bin[wg_key_bytes + 1];
  size_t len = 0;
  int rc = sodium_base642bin(bin, sizeof bin, base64.data(), base64.size(), nullptr, &len, nullptr,
                             sodium_base64_VARIANT_ORIGINAL);
  if (rc != 0 || len != wg_key_bytes)
    return invalid_field(field, "'" + shown(base64) + "' is not a base64 WireGuard key (32 bytes)");
  return {};
}

status validate_peer_spec(const peer_spec& p, std::string_view prefix) {
  const std::string pre(prefix);
  OVERLAYD_TRY(validate_wg_key(pre + "public_key", p.public_key));
  auto ep = net::endpoint::parse(p.endpoint);
  if (!ep)
    return invalid("invalid peer endpoint " + shown(p.endpoint) + ": " +
                   cause(ep.err(), p.endpoint));
  auto ips = net::parse_cidr_list(p.allowed_ips);
  if (!ips) return invalid_field(pre + "allowed_ips", shown(ips.err().message));
  // WireGuard's persistent keepalive interval is a u16 of seconds.
  if (p.persistent_keepalive_secs > 65535)
    return invalid_field(pre + "persistent_keepalive_secs",
                         std::to_string(p.persistent_keepalive_secs) + " exceeds 65535");
  for (size_t i = 0; i < p.candidates.size(); ++i)
    OVERLAYD_TRY(check_candidate(p.candidates[i], pre + "candidates[" + std::to_string(i) + "]"));
  return {};
}

status validate(const request& r) {
  return std::visit([](const auto& x) { return check(x); }, r);
}

}  // namespace overlayd::ipc
