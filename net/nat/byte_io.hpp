// Big-endian byte reading and writing for the NAT wire formats. The reader
// never reads past its span: every get reports failure instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace overlayd::net::nat {

using bytes = std::vector<uint8_t>;
using byte_span = std::span<const uint8_t>;

class byte_reader {
 public:
  explicit byte_reader(byte_span data) : data_(data) {}
  size_t remaining() const noexcept { return data_.size() - pos_; }
  size_t pos() const noexcept { return pos_; }
  bool u8(uint8_t& v) noexcept {
    if (remaining() < 1) return false;
    v = data_[pos_++];
    return true;
  }
  bool u16(uint16_t& v) noexcept {
    if (remaining() < 2) return false;
    v = uint16_t(data_[pos_] << 8 | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& v) noexcept {
    uint16_t hi = 0, lo = 0;
    if (remaining() < 4) return false;
    u16(hi);
    u16(lo);
    v = uint32_t(hi) << 16 | lo;
    return true;
  }
  bool u64(uint64_t& v) noexcept {
    uint32_t hi = 0, lo = 0;
    if (remaining() < 8) return false;
    u32(hi);
    u32(lo);
    v = uint64_t(hi) << 32 | lo;
    return true;
  }
  bool take(size_t n, byte_span& out) noexcept {
    if (remaining() < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(size_t n) noexcept {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }

 private:
  byte_span data_;
  size_t pos_ = 0;
};

inline void put_u8(bytes& b, uint8_t v) { b.push_back(v); }
inline void put_u16(bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
inline void put_u32(bytes& b, uint32_t v) {
  put_u16(b, uint16_t(v >> 16));
  put_u16(b, uint16_t(v));
}
inline void put_u64(bytes& b, uint64_t v) {
  put_u32(b, uint32_t(v >> 32));
  put_u32(b, uint32_t(v));
}
inline void put_bytes(bytes& b, byte_span s) { b.insert(b.end(), s.begin(), s.end()); }
inline void put_bytes(bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }
inline void set_u16(bytes& b, size_t at, uint16_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}
inline uint16_t get_u16(byte_span s, size_t at) { return uint16_t(s[at] << 8 | s[at + 1]); }
inline uint32_t get_u32(byte_span s, size_t at) {
  return uint32_t(get_u16(s, at)) << 16 | get_u16(s, at + 2);
}

}  // namespace overlayd::net::nat
