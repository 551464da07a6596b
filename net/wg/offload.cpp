#include "net/wg/offload.hpp"

#include <bit>
#include <cstring>

namespace overlayd::wg {

namespace {

constexpr uint8_t f_needs_csum = 1;
constexpr uint8_t f_data_valid = 2;
constexpr uint8_t gso_none = 0, gso_tcpv4 = 1, gso_tcpv6 = 4, gso_ecn = 0x80;
constexpr uint8_t proto_tcp = 6;
constexpr uint8_t proto_udp = 17;
constexpr uint16_t udp_checksum_offset = 6;
constexpr uint8_t tcp_fin = 0x01, tcp_psh = 0x08, tcp_ack = 0x10, tcp_cwr = 0x80;

uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
void put_le16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}

// Sum of the TCP pseudo-header (addresses, protocol, TCP length).
uint32_t pseudo_sum(const uint8_t* ip, bool v6, size_t tcp_len) {
  uint32_t s = v6 ? csum_add(0, ip + 8, 32) : csum_add(0, ip + 12, 8);
  return s + proto_tcp + uint32_t(tcp_len >> 16) + uint32_t(tcp_len & 0xffff);
}

// The packet's transport header at `l4` is UDP (IPv4 or IPv6 without
// extension headers).
bool l4_is_udp(std::span<const uint8_t> pkt, size_t l4) {
  if (pkt.size() < 20) return false;
  if (pkt[0] >> 4 == 4) return pkt[9] == proto_udp && l4 == size_t(pkt[0] & 0xf) * 4;
  return pkt[0] >> 4 == 6 && pkt.size() >= 40 && pkt[6] == proto_udp && l4 == 40;
}

void ipv4_fix_checksum(uint8_t* ip, size_t ip_hl) {
  put16(ip + 10, 0);
  put16(ip + 10, csum_fold(csum_add(0, ip, ip_hl)));
}

// The IP and TCP header lengths of a TCP packet; 0 if it is not a plain
// TCP packet we can cut (v6 extension headers are not handled: rare, and
// the kernel only offloads them to devices that say so).
struct tcp_layout {
  size_t ip_hl = 0, tcp_hl = 0;
  bool v6 = false;
};
bool parse_tcp(const uint8_t* p, size_t len, tcp_layout& l) {
  if (len < 20) return false;
  if (p[0] >> 4 == 4) {
    l.v6 = false;
    l.ip_hl = size_t(p[0] & 0xf) * 4;
    if (l.ip_hl < 20 || p[9] != proto_tcp) return false;
  } else if (p[0] >> 4 == 6) {
    l.v6 = true;
    l.ip_hl = 40;
    if (len < 40 || p[6] != proto_tcp) return false;
  } else {
    return false;
  }
  if (len < l.ip_hl + 20) return false;
  l.tcp_hl = size_t(p[l.ip_hl + 12] >> 4) * 4;
  return l.tcp_hl >= 20 && len >= l.ip_hl + l.tcp_hl;
}

int split_tcp(std::span<uint8_t> pkt, size_t gso_size, size_t mtu, const segment_sink& out) {
  tcp_layout l;
  if (!parse_tcp(pkt.data(), pkt.size(), l) || gso_size == 0) return -1;
  const size_t hdr = l.ip_hl + l.tcp_hl;
  const size_t payload = pkt.size() - hdr;
  if (hdr + gso_size > mtu) return -1;
  const uint8_t* p = pkt.data();
  const uint32_t seq0 = be32(p + l.ip_hl + 4);
  const uint16_t id0 = l.v6 ? 0 : be16(p + 4);
  const uint8_t flags0 = p[l.ip_hl + 13];
  int n = 0;
  for (size_t off = 0; off < payload || (payload == 0 && n == 0); off += gso_size) {
    const size_t seg = std::min(gso_size, payload - off);
    const bool last = off + seg >= payload;
    uint8_t* o = out(hdr + seg);
    if (!o) return -1;
    std::memcpy(o, p, hdr);
    std::memcpy(o + hdr, p + hdr + off, seg);
    if (l.v6) {
      put16(o + 4, uint16_t(l.tcp_hl + seg));
    } else {
      put16(o + 2, uint16_t(hdr + seg));
      put16(o + 4, uint16_t(id0 + n));
      ipv4_fix_checksum(o, l.ip_hl);
    }
    uint8_t* tcp = o + l.ip_hl;
    put32(tcp + 4, seq0 + uint32_t(off));
    uint8_t f = flags0;
    if (!last) f &= uint8_t(~(tcp_fin | tcp_psh));
    if (n > 0) f &= uint8_t(~tcp_cwr);
    tcp[13] = f;
    put16(tcp + 16, 0);
    uint32_t s = pseudo_sum(o, l.v6, l.tcp_hl + seg);
    put16(tcp + 16, csum_fold(csum_add(s, tcp, l.tcp_hl + seg)));
    ++n;
    if (payload == 0) break;
  }
  return n;
}

}  // namespace

vnet_hdr vnet_hdr::read(const uint8_t* p) noexcept {
  // Little-endian fields (virtio 1.0 / tun on a little-endian host).
  return vnet_hdr{p[0], p[1], le16(p + 2), le16(p + 4), le16(p + 6), le16(p + 8)};
}

void vnet_hdr::write(uint8_t* p) const noexcept {
  p[0] = flags;
  p[1] = gso_type;
  put_le16(p + 2, hdr_len);
  put_le16(p + 4, gso_size);
  put_le16(p + 6, csum_start);
  put_le16(p + 8, csum_offset);
}

uint32_t csum_add(uint32_t sum, const uint8_t* data, size_t len) noexcept {
  // RFC 1071 s2(B): the ones' complement sum does not depend on byte order,
  // so sum native 64-bit words (as 32-bit halves, no carry lost for any
  // length below 2^32 words) and swap the folded 16-bit result into network
  // order at the end. This is on every TSO segment the device cuts (it was
  // ~10% of the sending thread's time as a big-endian word loop).
  uint64_t s0 = 0, s1 = 0;
  for (; len >= 16; data += 16, len -= 16) {
    uint64_t a, b;
    std::memcpy(&a, data, 8);
    std::memcpy(&b, data + 8, 8);
    s0 += (a & 0xffffffff) + (a >> 32);
    s1 += (b & 0xffffffff) + (b >> 32);
  }
  uint64_t s = s0 + s1;  // each < 2^61: no overflow
  if (len >= 8) {
    uint64_t a;
    std::memcpy(&a, data, 8);
    s += (a & 0xffffffff) + (a >> 32);
    data += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t a;
    std::memcpy(&a, data, 4);
    s += a;
    data += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t a;
    std::memcpy(&a, data, 2);
    s += a;
    data += 2;
    len -= 2;
  }
  if (len) {  // the odd byte is the high byte of a network-order word
    uint8_t pad[2] = {data[0], 0};
    uint16_t a;
    std::memcpy(&a, pad, 2);
    s += a;
  }
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  if constexpr (std::endian::native == std::endian::little) s = ((s & 0xff) << 8) | (s >> 8);
  s += sum;
  while (s >> 32) s = (s & 0xffffffff) + (s >> 32);
  return uint32_t(s);
}

uint16_t csum_fold(uint32_t sum) noexcept {
  uint64_t s = sum;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

int split_offload_packet(const vnet_hdr& h, std::span<uint8_t> pkt, size_t mtu,
                         const segment_sink& out) {
  const uint8_t type = h.gso_type & uint8_t(~gso_ecn);
  if (type == gso_tcpv4 || type == gso_tcpv6) return split_tcp(pkt, h.gso_size, mtu, out);
  if (type != gso_none || pkt.size() > mtu) return -1;
  if (h.flags & f_needs_csum) {
    // Partial checksum: the field holds the pseudo-header sum; finish it.
    const size_t at = size_t{h.csum_start} + h.csum_offset;
    if (h.csum_start > pkt.size() || at + 2 > pkt.size()) return -1;
    uint16_t c = csum_fold(csum_add(0, pkt.data() + h.csum_start, pkt.size() - h.csum_start));
    // RFC 768: a computed UDP checksum of 0 goes out as 0xFFFF (0 means "no
    // checksum", and IPv6 receivers drop UDP with a zero checksum).
    if (c == 0 && h.csum_offset == udp_checksum_offset && l4_is_udp(pkt, h.csum_start)) c = 0xffff;
    put16(pkt.data() + at, c);
  }
  uint8_t* o = out(pkt.size());
  if (!o) return -1;
  if (!pkt.empty()) std::memcpy(o, pkt.data(), pkt.size());  // never memcpy from a null data()
  return 1;
}

// ---------------------------------------------------------------- coalescing

namespace {

// A TCP segment we may merge: plain ACK (PSH allowed), no options on IPv4,
// not a fragment, some payload.
bool mergeable(const uint8_t* p, size_t len, tcp_layout& l) {
  if (!parse_tcp(p, len, l)) return false;
  if (!l.v6) {
    if (l.ip_hl != 20 || be16(p + 2) != len || (be16(p + 6) & 0x3fff) != 0) return false;
  } else if (40 + size_t{be16(p + 4)} != len) {
    return false;
  }
  const uint8_t f = p[l.ip_hl + 13];
  return (f & ~tcp_psh) == tcp_ack && len > l.ip_hl + l.tcp_hl;
}

// Same flow and headers apart from what changes per segment (IPv4 id,
// length, checksum; TCP sequence number, checksum, PSH).
bool same_headers(const uint8_t* a, const uint8_t* b, const tcp_layout& l) {
  if (l.v6) {
    if (std::memcmp(a, b, 4) != 0 || a[7] != b[7] || std::memcmp(a + 8, b + 8, 32) != 0) return false;
  } else {
    if (a[1] != b[1] || a[8] != b[8] || (a[6] & 0x40) != (b[6] & 0x40) ||
        std::memcmp(a + 12, b + 12, 8) != 0)
      return false;
  }
  const uint8_t* ta = a + l.ip_hl;
  const uint8_t* tb = b + l.ip_hl;
  return std::memcmp(ta, tb, 4) == 0 &&             // ports
         std::memcmp(ta + 8, tb + 8, 5) == 0 &&     // ack, data offset
         std::memcmp(ta + 14, tb + 14, 2) == 0 &&   // window
         std::memcmp(ta + 18, tb + 18, l.tcp_hl - 18) == 0;  // urg ptr, options
}

}  // namespace

bool tcp_coalescer::add(std::span<const uint8_t> pkt) {
  tcp_layout l;
  const bool tcp = mergeable(pkt.data(), pkt.size(), l);
  if (len_ == 0) {
    if (vnet_hdr_size + pkt.size() > buf_.size()) return false;  // caller drops it
    // An empty span may have a null data(): memcpy must not see it (UBSan).
    if (!pkt.empty()) std::memcpy(buf_.data() + vnet_hdr_size, pkt.data(), pkt.size());
    len_ = vnet_hdr_size + pkt.size();
    segs_ = 1;
    tcp_ = tcp;
    if (tcp) {
      v6_ = l.v6;
      ip_hl_ = l.ip_hl;
      tcp_hl_ = l.tcp_hl;
      seg_size_ = pkt.size() - l.ip_hl - l.tcp_hl;
      next_seq_ = be32(pkt.data() + l.ip_hl + 4) + uint32_t(seg_size_);
      closed_ = (pkt[l.ip_hl + 13] & tcp_psh) != 0;
    }
    return true;
  }
  const uint8_t* first = buf_.data() + vnet_hdr_size;
  const size_t payload = tcp ? pkt.size() - l.ip_hl - l.tcp_hl : 0;
  if (!tcp_ || !tcp || closed_ || l.v6 != v6_ || l.tcp_hl != tcp_hl_ || payload > seg_size_ ||
      be32(pkt.data() + l.ip_hl + 4) != next_seq_ || len_ + payload > buf_.size() ||
      len_ - vnet_hdr_size + payload > max_offload_packet ||
      !same_headers(first, pkt.data(), l))
    return false;
  std::memcpy(buf_.data() + len_, pkt.data() + l.ip_hl + l.tcp_hl, payload);
  len_ += payload;
  ++segs_;
  next_seq_ += uint32_t(payload);
  if (payload < seg_size_) closed_ = true;  // a short segment ends a GSO train
  if (pkt[l.ip_hl + 13] & tcp_psh) {
    buf_[vnet_hdr_size + ip_hl_ + 13] |= tcp_psh;
    closed_ = true;
  }
  return true;
}

std::span<const uint8_t> tcp_coalescer::flush() {
  vnet_hdr h;
  uint8_t* ip = buf_.data() + vnet_hdr_size;
  const size_t ip_len = len_ - vnet_hdr_size;
  if (segs_ > 1) {
    if (v6_) {
      put16(ip + 4, uint16_t(ip_len - 40));
    } else {
      put16(ip + 2, uint16_t(ip_len));
      ipv4_fix_checksum(ip, ip_hl_);
    }
    // The kernel finishes the checksum (or trusts it for local delivery):
    // the field holds the folded pseudo-header sum, not complemented.
    uint8_t* tcp = ip + ip_hl_;
    put16(tcp + 16, uint16_t(~csum_fold(pseudo_sum(ip, v6_, ip_len - ip_hl_))));
    h.flags = f_needs_csum;
    h.gso_type = v6_ ? gso_tcpv6 : gso_tcpv4;
    h.hdr_len = uint16_t(ip_hl_ + tcp_hl_);
    h.gso_size = uint16_t(seg_size_);
    h.csum_start = uint16_t(ip_hl_);
    h.csum_offset = 16;
  } else {
    // Authenticated by the AEAD: no need for the kernel to verify checksums
    // (WireGuard's kernel module marks decrypted packets the same way).
    h.flags = f_data_valid;
  }
  h.write(buf_.data());
  std::span<const uint8_t> r(buf_.data(), len_);
  len_ = 0;
  segs_ = 0;
  return r;
}

}  // namespace overlayd::wg
