#include "net/nat/stun_client.hpp"

#include <algorithm>

#include "net/nat/nat_constants.hpp"

namespace overlayd::net::nat {

std::string_view to_string(nat_mapping m) noexcept {
  switch (m) {
    case nat_mapping::endpoint_independent: return "endpoint-independent";
    case nat_mapping::endpoint_dependent: return "endpoint-dependent";
    case nat_mapping::unknown: break;
  }
  return "unknown";
}

nat_mapping classify_mapping(const std::vector<stun_probe_result>& results) {
  std::optional<endpoint> first;
  size_t answered = 0;
  for (const auto& r : results) {
    if (!r.reflexive) continue;
    ++answered;
    if (!first) first = r.reflexive;
    else if (*first != *r.reflexive) return nat_mapping::endpoint_dependent;
  }
  return answered >= 2 ? nat_mapping::endpoint_independent : nat_mapping::unknown;
}

void stun_client::start(const std::vector<endpoint>& servers, steady::time_point now) {
  txns_.clear();
  for (const auto& s : servers) {
    if (txns_.size() >= max_servers) break;
    transaction t;
    t.server = s;
    t.txn = random_transaction_id();
    t.request = stun_builder(stun_method::binding, stun_class::request, t.txn).finish(std::nullopt, true);
    t.rto = stun_initial_rto;
    t.next = now;
    t.result.server = s;
    txns_.push_back(std::move(t));
  }
}

std::vector<outgoing_datagram> stun_client::poll(steady::time_point now) {
  std::vector<outgoing_datagram> out;
  for (auto& t : txns_) {
    if (t.st != state::sending || now < t.next) continue;
    if (t.sent >= stun_max_transmissions) {
      // Section 6.2.1: after the last transmission wait one more (final) RTO.
      t.st = state::done;
      t.result.error = "timeout";
      continue;
    }
    out.push_back({t.server, t.request});
    ++t.sent;
    t.next = now + t.rto;
    t.rto = std::min(t.rto * 2, stun_max_rto);
  }
  return out;
}

bool stun_client::on_datagram(const endpoint& from, byte_span data) {
  if (!looks_like_stun(data)) return false;
  auto msg = parse_stun(data);
  if (!msg || msg->method != stun_method::binding) return false;
  for (auto& t : txns_) {
    if (t.txn != msg->txn || t.st != state::sending) continue;
    if (from != t.server) return false;  // an answer must come from whom we asked
    if (msg->cls == stun_class::success) {
      t.result.reflexive = msg->mapped_address();
      if (!t.result.reflexive) t.result.error = "success response without a mapped address";
    } else if (msg->cls == stun_class::error) {
      auto ec = msg->error_code();
      t.result.error = ec ? "error " + std::to_string(ec->code) + " " + ec->reason : "error response";
    } else {
      return false;
    }
    t.st = state::done;
    return true;
  }
  return false;
}

bool stun_client::done() const noexcept {
  return std::all_of(txns_.begin(), txns_.end(), [](const auto& t) { return t.st == state::done; });
}

std::optional<steady::time_point> stun_client::next_deadline() const noexcept {
  std::optional<steady::time_point> d;
  for (const auto& t : txns_)
    if (t.st == state::sending && (!d || t.next < *d)) d = t.next;
  return d;
}

std::vector<stun_probe_result> stun_client::results() const {
  std::vector<stun_probe_result> out;
  for (const auto& t : txns_) out.push_back(t.result);
  return out;
}

}  // namespace overlayd::net::nat
