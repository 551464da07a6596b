// Fuzz target: WireGuard message parsing and handshake consumption.
// Every input is tried as each message type against fixed identities and a
// fixed in-flight handshake/session, so the parsers, MAC checks, Noise
// consumption and transport decryption all see hostile bytes. An input whose
// first byte is 0xff is XORed over a valid initiation/response instead, to
// reach the code behind the length and header checks.
#include <cstring>
#include <vector>

#include "net/wg/cookie.hpp"
#include "net/wg/keypair.hpp"
#include "net/wg/messages.hpp"
#include "net/wg/noise.hpp"

using namespace overlayd;
using namespace overlayd::wg;

namespace {

crypto::private_key key_of(uint8_t fill) {
  std::array<uint8_t, 32> b{};
  b.fill(fill);
  return crypto::private_key{std::span<const uint8_t, 32>(b)};
}

struct world {
  fake_clock clk;
  static_identity initiator = static_identity::from_private(key_of(1));
  static_identity responder = static_identity::from_private(key_of(2));
  handshake at_initiator;  // created_initiation, awaiting a response
  handshake at_responder;  // fresh, knows the initiator
  msg_initiation valid_init{};
  msg_response valid_resp{};
  cookie_checker checker{clk};
  cookie_maker maker;
  net::endpoint src{net::ip_address::v4(0x7f000001), 51820};

  world() {
    at_initiator.remote_static = responder.public_key;
    (void)precompute_static(at_initiator, initiator);
    at_responder.remote_static = initiator.public_key;
    (void)precompute_static(at_responder, responder);
    valid_init = *create_initiation(at_initiator, initiator, 1, clk.wall_now());
    checker.set_identity(responder.public_key);
    maker.set_remote(responder.public_key);
    maker.add_macs(valid_init.mutable_bytes(), clk.now());
    handshake r = at_responder;
    auto opened = open_initiation(valid_init, responder);
    (void)finish_initiation(r, *opened, clk.now());
    valid_resp = *create_response(r, 2);
  }
};

void consume(world& w, bytes_view b) {
  (void)message_type_of(b);
  (void)w.checker.check(b, w.src);
  if (auto m = parse_initiation(b)) {
    if (auto opened = open_initiation(*m, w.responder)) {
      handshake hs = w.at_responder;
      if (finish_initiation(hs, *opened, w.clk.now())) (void)create_response(hs, 3);
    }
  }
  if (auto m = parse_response(b)) {
    handshake hs = w.at_initiator;
    if (consume_response(hs, w.initiator, *m)) (void)derive_keys(hs);
  }
  if (auto m = parse_cookie_reply(b)) {
    cookie_maker maker = w.maker;
    (void)maker.consume_reply(*m, w.clk.now());
  }
  if (parse_transport(b)) {
    session_keys k;
    k.send = key_of(3);
    k.recv = key_of(4);
    k.local_index = load_le32(b.data() + 4);  // reach the AEAD
    keypair kp(std::move(k), w.clk.now());
    std::vector<uint8_t> copy(b.begin(), b.end());
    (void)kp.decrypt(copy, w.clk.now());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static world w;
  if (size > 0 && data[0] == 0xff) {
    for (bytes_view base : {w.valid_init.bytes(), w.valid_resp.bytes()}) {
      std::vector<uint8_t> m(base.begin(), base.end());
      for (size_t i = 1; i < size && i - 1 < m.size(); ++i) m[i - 1] ^= data[i];
      consume(w, m);
    }
    return 0;
  }
  consume(w, bytes_view(data, size));
  return 0;
}
