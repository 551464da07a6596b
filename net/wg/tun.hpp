// The TUN interface of a device: a layer-3 interface (IFF_TUN|IFF_NO_PI, so
// every read/write is exactly one IP packet) whose fd the I/O threads use.
//
//   tun_device::create(name, offload)  opens /dev/net/tun and creates or
//                              attaches the interface (name 1..15 chars); fd
//                              is non-blocking. With `offload`, every packet
//                              carries a virtio_net_hdr and TSO/checksum
//                              offloads are on (see offload.hpp); vnet()
//                              says whether that worked.
//   read(buf) / write(pkt)     one packet; read returns 0 on EAGAIN
//
// Link configuration (MTU, addresses, up) goes over netlink: tun_netlink.hpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "net/wg/unique_fd.hpp"

namespace overlayd::wg {

inline constexpr uint32_t default_tun_mtu = 1420;
inline constexpr size_t max_ifname_len = 15;

class tun_device {
 public:
  static result<tun_device> create(std::string_view name, bool offload = true);

  const std::string& name() const noexcept { return name_; }
  int fd() const noexcept { return fd_.get(); }
  bool vnet() const noexcept { return vnet_; }

  // One packet into `buf`; returns its size, 0 if none is waiting (EAGAIN),
  // or an error. A packet longer than `buf` is truncated by the kernel: the
  // caller sizes `buf` above the MTU and drops reads that fill it.
  result<size_t> read(std::span<uint8_t> buf) const;
  // One packet; false when the kernel refused it (counted by the caller).
  bool write(std::span<const uint8_t> pkt) const noexcept;

 private:
  tun_device(unique_fd fd, std::string name, bool vnet)
      : fd_(std::move(fd)), name_(std::move(name)), vnet_(vnet) {}
  unique_fd fd_;
  std::string name_;
  bool vnet_ = false;
};

}  // namespace overlayd::wg
