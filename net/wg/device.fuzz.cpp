// Fuzz target: device::handle_datagram, the receive thread's entry for every
// datagram from the network (WireGuard messages, relay frames, anything).
// Needs root and /dev/net/tun (CI runs as root): one device, created once,
// with a private key and one peer, link left unconfigured and down, no UAPI
// socket. The first byte picks the source endpoint.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "crypto/keys.hpp"
#include "net/wg/device.hpp"

using namespace overlayd;

namespace {
wg::device* make_device() {
  wg::device_options o;
  o.name = "fzwg" + std::to_string(::getpid() % 100000);
  o.configure_link = false;
  o.uapi_dir.clear();
  o.pin_io_threads = false;
  o.private_key = crypto::generate_private_key();
  auto d = wg::device::create(std::move(o));
  if (!d) {
    std::fprintf(stderr, "fuzz_wg_device: %s (needs root and /dev/net/tun)\n", d.err().message.c_str());
    std::abort();
  }
  wg::peer_update p;
  p.key = crypto::public_from_private(crypto::generate_private_key());
  p.endpoint = net::endpoint::parse("192.0.2.7:51820").value();
  p.allowed_ips = {net::cidr::parse("10.9.0.2/32").value()};
  (void)(*d)->upsert_peer(p);
  return d->release();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static wg::device* dev = make_device();
  if (size < 1) return 0;
  static const net::endpoint src[] = {net::endpoint::parse("192.0.2.7:51820").value(),
                                      net::endpoint::parse("[2001:db8::1]:4000").value()};
  std::vector<uint8_t> buf(data + 1, data + size);
  dev->handle_datagram_for_test(buf, src[data[0] % 2]);
  return 0;
}
