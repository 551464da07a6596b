// Fuzz target: TSO super-packet splitting (the kernel's virtio-net header
// and packet, read from the TUN) and TCP coalescing (decrypted packets from
// peers, written to the TUN). Input: [vnet_hdr 10][mtu 2][packet...]; the
// packet is then also fed to the coalescer in pieces.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "net/wg/offload.hpp"

using namespace overlayd::wg;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < vnet_hdr_size + 2) return 0;
  const vnet_hdr h = vnet_hdr::read(data);
  const size_t mtu = 576 + (size_t(data[vnet_hdr_size]) << 8 | data[vnet_hdr_size + 1]) % 8500;
  std::vector<uint8_t> pkt(data + vnet_hdr_size + 2, data + size);
  std::vector<std::vector<uint8_t>> segs;
  int n = split_offload_packet(h, pkt, mtu, [&](size_t len) -> uint8_t* {
    if (segs.size() >= 256 || len > 65536) return nullptr;
    segs.emplace_back(len);
    return segs.back().data();
  });
  if (n >= 0 && size_t(n) != segs.size()) __builtin_trap();
  // Coalesce what came out (or the raw packet), then split the result again.
  std::vector<uint8_t> buf(vnet_hdr_size + max_offload_packet);
  tcp_coalescer co(buf);
  if (segs.empty()) segs.push_back(pkt);
  for (const auto& s : segs) {
    if (!co.add(s)) {
      (void)co.flush();
      (void)co.add(s);
    }
  }
  if (!co.empty()) {
    auto out = co.flush();
    if (out.size() < vnet_hdr_size) __builtin_trap();
    std::vector<uint8_t> again(out.begin() + vnet_hdr_size, out.end());
    (void)split_offload_packet(vnet_hdr::read(out.data()), again, 65535, [&](size_t len) -> uint8_t* {
      static std::vector<uint8_t> scratch;
      scratch.resize(len);
      return scratch.data();
    });
  }
  return 0;
}
