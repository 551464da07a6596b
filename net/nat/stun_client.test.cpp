#include "net/nat/stun_client.hpp"

#include <doctest/doctest.h>

#include "net/nat/nat_constants.hpp"

using namespace overlayd::net;
using namespace overlayd::net::nat;
using namespace std::chrono_literals;

namespace {
endpoint ep(const char* s) { return endpoint::parse(s).value(); }

bytes answer(const bytes& request, const endpoint& mapped) {
  auto m = parse_stun(request).value();
  return stun_builder(stun_method::binding, stun_class::success, m.txn)
      .add_xor_address(stun_attr::xor_mapped_address, mapped)
      .finish(std::nullopt, true);
}
}  // namespace

TEST_CASE("a STUN transaction retransmits with a doubling RTO and then times out") {
  stun_client c;
  steady::time_point t0{};
  c.start({ep("10.0.0.1:3478")}, t0);
  std::vector<steady::duration> sends;
  for (auto t = t0; t < t0 + 60s && !c.done(); t += 10ms)
    if (!c.poll(t).empty()) sends.push_back(t - t0);
  REQUIRE(sends.size() == stun_max_transmissions);
  CHECK(sends[0] == 0ms);
  CHECK(sends[1] == 500ms);
  CHECK(sends[2] == 1500ms);
  CHECK(sends[3] == 3500ms);
  CHECK(sends[4] == 7500ms);
  REQUIRE(c.done());
  CHECK(c.results()[0].error == "timeout");
}

TEST_CASE("a STUN response from the server completes the transaction with the reflexive endpoint") {
  stun_client c;
  steady::time_point t0{};
  c.start({ep("10.0.0.1:3478"), ep("10.0.0.2:3478")}, t0);
  auto out = c.poll(t0);
  REQUIRE(out.size() == 2);
  // A response from the wrong source is not accepted.
  CHECK_FALSE(c.on_datagram(ep("10.9.9.9:3478"), answer(out[0].data, ep("203.0.113.1:5000"))));
  CHECK(c.on_datagram(out[0].to, answer(out[0].data, ep("203.0.113.1:5000"))));
  CHECK_FALSE(c.done());
  CHECK(c.on_datagram(out[1].to, answer(out[1].data, ep("203.0.113.1:5000"))));
  CHECK(c.done());
  auto r = c.results();
  CHECK(r[0].reflexive == ep("203.0.113.1:5000"));
  CHECK(classify_mapping(r) == nat_mapping::endpoint_independent);
  // A duplicate (retransmitted) answer is not consumed twice.
  CHECK_FALSE(c.on_datagram(out[0].to, answer(out[0].data, ep("203.0.113.1:5000"))));
}

TEST_CASE("NAT mapping classification from two servers") {
  auto r = [](std::optional<endpoint> e) { return stun_probe_result{ep("1.1.1.1:1"), e, ""}; };
  CHECK(classify_mapping({}) == nat_mapping::unknown);
  CHECK(classify_mapping({r(ep("9.9.9.9:1"))}) == nat_mapping::unknown);
  CHECK(classify_mapping({r(ep("9.9.9.9:1")), r(std::nullopt)}) == nat_mapping::unknown);
  CHECK(classify_mapping({r(ep("9.9.9.9:1")), r(ep("9.9.9.9:1"))}) == nat_mapping::endpoint_independent);
  CHECK(classify_mapping({r(ep("9.9.9.9:1")), r(ep("9.9.9.9:2"))}) == nat_mapping::endpoint_dependent);
}
