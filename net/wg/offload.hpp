// TUN offloads (IFF_VNET_HDR): every packet on the TUN fd carries a 10-byte
// virtio_net_hdr. With TSO enabled the kernel hands us TCP super-packets (up
// to 64 KiB) that we cut into MTU-sized segments ourselves (one read instead
// of ~45), and with partial checksums it leaves the TCP/UDP checksum for us
// to finish. In the other direction we coalesce consecutive in-order TCP
// segments of one flow into one super-packet the kernel accepts as GSO (one
// write, one pass through the receiving TCP stack).
//
// Pure functions over byte buffers, no I/O: unit-tested in offload.test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace overlayd::wg {

inline constexpr size_t vnet_hdr_size = 10;  // struct virtio_net_hdr
// The largest packet a TSO read can return (IP total length limit).
inline constexpr size_t max_offload_packet = 65535;

struct vnet_hdr {
  uint8_t flags = 0;     // 1 = VIRTIO_NET_HDR_F_NEEDS_CSUM
  uint8_t gso_type = 0;  // 0 none, 1 TCPv4, 4 TCPv6 (| 0x80 ECN)
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;

  static vnet_hdr read(const uint8_t* p) noexcept;
  void write(uint8_t* p) const noexcept;
};

// Internet checksum pieces (RFC 1071): the 32-bit partial sum of `data`
// added to `sum`, and the folded, complemented 16-bit result.
uint32_t csum_add(uint32_t sum, const uint8_t* data, size_t len) noexcept;
uint16_t csum_fold(uint32_t sum) noexcept;

// Splits one packet read from the TUN (header already parsed, `pkt` is the
// IP packet after it) into IP packets of at most `mtu` bytes with complete
// checksums. For each one, `out(len)` returns where to write `len` bytes.
// Returns the number of packets produced, or -1 if the packet is malformed
// or a segment would exceed the MTU (the caller drops and counts it).
using segment_sink = std::function<uint8_t*(size_t len)>;
int split_offload_packet(const vnet_hdr& h, std::span<uint8_t> pkt, size_t mtu,
                         const segment_sink& out);

// Coalesces IP packets for writing to the TUN. add() either appends the
// packet to the pending super-packet (same TCP flow, next sequence number,
// same headers) or reports that the pending one must be flushed first.
class tcp_coalescer {
 public:
  // `buf` receives [vnet_hdr][IP packet]; its size bounds the super-packet.
  explicit tcp_coalescer(std::span<uint8_t> buf) : buf_(buf) {}

  // Tries to add `pkt`; false = flush() then add again (which then succeeds
  // as the first packet of a new super-packet; non-TCP packets always go
  // alone).
  bool add(std::span<const uint8_t> pkt);
  bool empty() const noexcept { return len_ == 0; }
  // The pending bytes to write ([vnet_hdr][packet]), finalised; resets.
  std::span<const uint8_t> flush();

 private:
  std::span<uint8_t> buf_;
  size_t len_ = 0;        // bytes in buf_ (header included); 0 = empty
  size_t segs_ = 0;       // TCP segments merged
  size_t ip_hl_ = 0, tcp_hl_ = 0, seg_size_ = 0;
  uint32_t next_seq_ = 0;
  bool v6_ = false, tcp_ = false, closed_ = false;
};

}  // namespace overlayd::wg
