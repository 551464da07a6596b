#include "net/wg/tun.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/wg/offload.hpp"

namespace overlayd::wg {

result<tun_device> tun_device::create(std::string_view name, bool offload) {
  if (name.empty() || name.size() > max_ifname_len || name.find('/') != std::string_view::npos ||
      name.find_first_of(" \t\n") != std::string_view::npos)
    return error(errc::invalid_argument,
                 "tun name '" + std::string(name) + "' must be 1..15 chars without '/' or spaces");
  unique_fd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return system_error("open", "/dev/net/tun", errno);
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0)
    return system_error("TUNSETIFF", std::string(name), errno);
  if (offload) {
    // TSO super-packets in, partial checksums allowed. Without them the
    // header stays (harmless); the kernel just never sends GSO packets.
    int hdr = static_cast<int>(vnet_hdr_size);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) != 0)
      return system_error("TUNSETVNETHDRSZ", std::string(name), errno);
    ::ioctl(fd.get(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
  }
  return tun_device(std::move(fd), std::string(ifr.ifr_name), offload);
}

result<size_t> tun_device::read(std::span<uint8_t> buf) const {
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return size_t{0};
    return system_error("read", name_, errno);
  }
}

bool tun_device::write(std::span<const uint8_t> pkt) const noexcept {
  for (;;) {
    ssize_t n = ::write(fd_.get(), pkt.data(), pkt.size());
    if (n >= 0) return static_cast<size_t>(n) == pkt.size();
    if (errno != EINTR) return false;
  }
}

}  // namespace overlayd::wg
