// bench_handshake: WireGuard handshakes per second per core, next to the
// X25519 rate measured in the same run (the bound: a full handshake costs 8
// scalar multiplications across both sides with the static-static DH
// precomputed — initiator: e keygen, es; responder: es, e keygen, ee, se;
// initiator again: ee, se).
//
// Usage: bench_handshake [seconds per measurement, default 2]
// Single-threaded; rates are per CPU-second of this thread (CLOCK_THREAD_CPUTIME_ID),
// so a busy machine slows the run but not the figures (caches aside).
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "crypto/keys.hpp"
#include "net/wg/cookie.hpp"
#include "net/wg/noise.hpp"

using namespace overlayd;
using namespace overlayd::wg;
using bench_clock = std::chrono::steady_clock;

namespace {

// CPU time of this thread: "per core" even when the machine is shared.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Operations per CPU-second, running for `seconds` of wall time.
template <class F>
double rate(double seconds, F&& one) {
  const auto until = bench_clock::now() + std::chrono::duration<double>(seconds);
  const double cpu0 = thread_cpu_seconds();
  uint64_t n = 0;
  do {
    for (int i = 0; i < 16; ++i) one();
    n += 16;
  } while (bench_clock::now() < until);
  return double(n) / (thread_cpu_seconds() - cpu0);
}

struct pair_state {
  static_identity ini = static_identity::from_private(crypto::generate_private_key());
  static_identity res = static_identity::from_private(crypto::generate_private_key());
  handshake hi, hr;
  fake_clock clk;
  cookie_checker checker{clk};
  cookie_maker maker;
  net::endpoint src{net::ip_address::v4(0x7f000001), 51820};

  pair_state() {
    hi.remote_static = res.public_key;
    hr.remote_static = ini.public_key;
    if (!precompute_static(hi, ini) || !precompute_static(hr, res)) std::abort();
    checker.set_identity(res.public_key);
    maker.set_remote(res.public_key);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const double secs = argc > 1 ? std::atof(argv[1]) : 2.0;
  if (!crypto::crypto_init()) return 1;

  // 1. X25519: variable-base scalar multiplication (what DH costs).
  const auto sk = crypto::generate_private_key();
  crypto::public_key pk = crypto::public_from_private(crypto::generate_private_key());
  const double x25519 = rate(secs, [&] {
    auto s = crypto::x25519(sk, pk);
    if (s) pk.bytes[0] ^= s->data()[0] & 1;  // keep the compiler honest
  });

  pair_state p;
  wall_time wall{std::chrono::seconds(1'700'000'000)};

  // 2. Full handshake, both sides on this core, MAC1 computed and checked.
  uint64_t failures = 0;
  const double full = rate(secs, [&] {
    handshake hi = p.hi;
    handshake hr = p.hr;
    wall += std::chrono::seconds(1);
    auto init = create_initiation(hi, p.ini, 1, wall);
    p.maker.add_macs(init->mutable_bytes(), p.clk.now());
    if (p.checker.check(init->bytes(), p.src) == mac_check::invalid) ++failures;
    auto opened = open_initiation(*init, p.res);
    if (!opened || !finish_initiation(hr, *opened, p.clk.now())) {
      ++failures;
      return;
    }
    auto resp = create_response(hr, 2);
    auto kr = derive_keys(hr);
    if (!consume_response(hi, p.ini, *resp)) ++failures;
    auto ki = derive_keys(hi);
    if (!ki || !kr || !(ki->send == kr->recv)) ++failures;
  });

  // 3. Responder side only (what a server under an initiation flood does):
  //    MAC1 check, consume initiation, create response, derive keys.
  std::vector<msg_initiation> inits;
  for (int i = 0; i < 512; ++i) {
    handshake hi = p.hi;
    wall += std::chrono::seconds(1);
    auto m = create_initiation(hi, p.ini, uint32_t(i + 1), wall);
    p.maker.add_macs(m->mutable_bytes(), p.clk.now());
    inits.push_back(*m);
  }
  size_t next = 0;
  const double responder = rate(secs, [&] {
    const msg_initiation& m = inits[next++ % inits.size()];
    handshake hr = p.hr;
    if (p.checker.check(m.bytes(), p.src) == mac_check::invalid) ++failures;
    auto opened = open_initiation(m, p.res);
    if (!opened || !finish_initiation(hr, *opened, p.clk.now())) {
      ++failures;
      return;
    }
    auto resp = create_response(hr, 2);
    if (!resp || !derive_keys(hr)) ++failures;
  });

  // 4. MAC1-only rejection (the cheap path for garbage under load).
  msg_initiation junk = inits[0];
  junk.mac1[0] ^= 1;
  const double mac1_reject = rate(secs, [&] {
    if (p.checker.check(junk.bytes(), p.src) != mac_check::invalid) ++failures;
  });

  std::printf("x25519 scalar multiplications/s/core:     %10.0f\n", x25519);
  std::printf("full handshakes/s/core (both sides):      %10.0f  (bound x25519/8 = %.0f, %.0f%%)\n", full,
              x25519 / 8, 100.0 * full / (x25519 / 8));
  std::printf("responder handshakes/s/core:              %10.0f  (bound x25519/4 = %.0f, %.0f%%)\n", responder,
              x25519 / 4, 100.0 * responder / (x25519 / 4));
  std::printf("MAC1 rejections/s/core:                   %10.0f\n", mac1_reject);
  if (failures) std::printf("FAILURES: %llu\n", static_cast<unsigned long long>(failures));
  return failures ? 1 : 0;
}
