#include "net/wg/uapi.hpp"

#include <cerrno>
#include <charconv>
#include <chrono>

namespace overlayd::wg {

using net::cidr;
using net::endpoint;

namespace {

error invalid(std::string msg) { return error(errc::invalid_argument, std::move(msg)); }

template <class Int>
result<Int> parse_uint(std::string_view key, std::string_view v) {
  Int n{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    return invalid("uapi: bad number for " + std::string(key) + ": '" + std::string(v) + "'");
  return n;
}

// Boolean keys accept only "true": that is all wireguard-tools ever sends.
status expect_true(std::string_view key, std::string_view v) {
  if (v != "true") return invalid("uapi: " + std::string(key) + " must be 'true'");
  return {};
}

result<secret_key> parse_secret(std::string_view key, std::string_view v) {
  auto k = key_from_hex(v);
  if (!k) return invalid("uapi: bad hex key for " + std::string(key));
  secret_key s{std::span<const uint8_t, 32>(*k)};
  crypto::wipe(k->data(), k->size());
  return s;
}

status device_key(device_update& u, std::string_view k, std::string_view v) {
  if (k == "private_key") {
    auto s = parse_secret(k, v);
    if (!s) return s.err();
    u.private_key = std::move(*s);
  } else if (k == "listen_port") {
    auto n = parse_uint<uint16_t>(k, v);
    if (!n) return n.err();
    u.listen_port = *n;
  } else if (k == "fwmark") {
    auto n = parse_uint<uint32_t>(k, v);
    if (!n) return n.err();
    u.fwmark = *n;
  } else if (k == "replace_peers") {
    OVERLAYD_TRY(expect_true(k, v));
    u.replace_peers = true;
  } else {
    return invalid("uapi: unknown device key '" + std::string(k) + "'");
  }
  return {};
}

status peer_key(peer_update& p, std::string_view k, std::string_view v) {
  if (k == "update_only") {
    OVERLAYD_TRY(expect_true(k, v));
    p.update_only = true;
  } else if (k == "remove") {
    OVERLAYD_TRY(expect_true(k, v));
    p.remove = true;
  } else if (k == "preshared_key") {
    auto s = parse_secret(k, v);
    if (!s) return s.err();
    p.preshared_key = std::move(*s);
  } else if (k == "endpoint") {
    auto e = endpoint::parse(v);
    if (!e) return invalid("uapi: " + e.err().message);
    p.endpoint = *e;
  } else if (k == "persistent_keepalive_interval") {
    auto n = parse_uint<uint16_t>(k, v);
    if (!n) return n.err();
    p.persistent_keepalive = *n;
  } else if (k == "replace_allowed_ips") {
    OVERLAYD_TRY(expect_true(k, v));
    p.replace_allowed_ips = true;
    p.allowed_ips.clear();
  } else if (k == "allowed_ip") {
    if (p.allowed_ips.size() >= max_allowed_ips_per_peer)
      return error(errc::exhausted, "uapi: too many allowed_ip lines for one peer");
    auto c = cidr::parse(v);
    if (!c) return invalid("uapi: " + c.err().message);
    p.allowed_ips.push_back(c->normalized());
  } else if (k == "protocol_version") {
    if (v != "1") return error(errc::not_supported, "uapi: protocol_version must be 1");
  } else {
    return invalid("uapi: unknown peer key '" + std::string(k) + "'");
  }
  return {};
}

}  // namespace

std::string key_to_hex(std::span<const uint8_t, 32> k) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(64, '0');
  for (size_t i = 0; i < 32; ++i) {
    s[2 * i] = digits[k[i] >> 4];
    s[2 * i + 1] = digits[k[i] & 0xf];
  }
  return s;
}

result<std::array<uint8_t, 32>> key_from_hex(std::string_view hex) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() != 64) return invalid("key must be 64 hex digits");
  std::array<uint8_t, 32> k{};
  for (size_t i = 0; i < 32; ++i) {
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return invalid("key must be 64 hex digits");
    k[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return k;
}

result<device_update> parse_uapi_set(std::string_view body) {
  device_update u;
  peer_update* peer = nullptr;
  size_t line_no = 0;
  while (!body.empty()) {
    auto nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    ++line_no;
    if (line.empty()) break;  // a blank line ends the request
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return invalid("uapi: line " + std::to_string(line_no) + " has no '='");
    auto k = line.substr(0, eq), v = line.substr(eq + 1);
    // Protocol step: `public_key` opens a peer section; every later key
    // belongs to that peer until the next `public_key`.
    if (k == "public_key") {
      if (u.peers.size() >= max_peers) return error(errc::exhausted, "uapi: too many peers");
      auto pk = key_from_hex(v);
      if (!pk) return invalid("uapi: bad hex key for public_key");
      peer = &u.peers.emplace_back();
      peer->key.bytes = *pk;
      continue;
    }
    status s = peer ? peer_key(*peer, k, v) : device_key(u, k, v);
    if (!s) return s.err();
  }
  return u;
}

std::string format_uapi_get(const device_status& st) {
  std::string o;
  o.reserve(256 + st.peers.size() * 400);
  auto kv = [&o](std::string_view k, std::string_view v) {
    o.append(k).append("=").append(v).append("\n");
  };
  if (st.private_key && !st.private_key->is_zero()) {
    std::string hex = key_to_hex(st.private_key->span());
    kv("private_key", hex);
    crypto::wipe(hex.data(), hex.size());
  }
  if (st.listen_port) kv("listen_port", std::to_string(st.listen_port));
  if (st.fwmark) kv("fwmark", std::to_string(st.fwmark));
  for (const auto& p : st.peers) {
    kv("public_key", key_to_hex(p.key.bytes));
    if (p.has_preshared_key) {
      std::string hex = key_to_hex(p.preshared_key.span());
      kv("preshared_key", hex);
      crypto::wipe(hex.data(), hex.size());
    }
    kv("protocol_version", "1");
    if (p.endpoint) kv("endpoint", p.endpoint->to_string());
    long long sec = 0, nsec = 0;
    if (p.last_handshake) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    p.last_handshake->time_since_epoch())
                    .count();
      sec = ns / 1'000'000'000;
      nsec = ns % 1'000'000'000;
    }
    kv("last_handshake_time_sec", std::to_string(sec));
    kv("last_handshake_time_nsec", std::to_string(nsec));
    kv("tx_bytes", std::to_string(p.tx_bytes));
    kv("rx_bytes", std::to_string(p.rx_bytes));
    kv("persistent_keepalive_interval", std::to_string(p.persistent_keepalive));
    for (const auto& c : p.allowed_ips) kv("allowed_ip", c.to_string());
  }
  o += "errno=0\n\n";
  return o;
}

int uapi_errno(const error& e) {
  switch (e.code) {
    case errc::system: return -(e.sys_errno ? e.sys_errno : EIO);
    case errc::exhausted: return -ENOSPC;
    case errc::not_found: return -ENOENT;
    case errc::not_supported: return -EPROTONOSUPPORT;
    case errc::protocol: return -EPROTO;
    default: return -EINVAL;
  }
}

bool uapi_session::feed(std::string_view bytes, std::string& out) {
  buf_.append(bytes);
  for (;;) {
    // A request is complete at its first empty line: "\n\n" (or a leading
    // "\n", an empty request, which we reject below).
    auto end = buf_.find("\n\n");
    if (end == std::string::npos) {
      if (buf_.size() > uapi_max_request_bytes) {
        out += "errno=" + std::to_string(-ENOMEM) + "\n\n";
        buf_.clear();
        return false;
      }
      return true;
    }
    std::string req = buf_.substr(0, end + 1);
    buf_.erase(0, end + 2);
    if (req.starts_with("get=1\n")) {
      if (req.size() != 6) {  // a get carries no other keys
        out += "errno=" + std::to_string(-EINVAL) + "\n\n";
        return false;
      }
      out += format_uapi_get(h_.uapi_get());
    } else if (req.starts_with("set=1\n")) {
      auto u = parse_uapi_set(std::string_view(req).substr(6));
      crypto::wipe(req.data(), req.size());
      status s = u ? h_.uapi_set(*u) : status(u.err());
      out += "errno=" + std::to_string(s ? 0 : uapi_errno(s.err())) + "\n\n";
    } else {
      out += "errno=" + std::to_string(-EINVAL) + "\n\n";
      return false;
    }
  }
}

}  // namespace overlayd::wg
