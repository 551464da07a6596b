#include "net/netlink/link.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <optional>

#include "net/netlink/limits.hpp"
#include "net/netlink/link_msg.hpp"

namespace overlayd::netlink {

bool link_info::up() const noexcept { return (flags & IFF_UP) != 0; }

status check_ifname(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return error(errc::invalid_argument,
                 "interface name '" + std::string(name) + "' must be 1.." +
                     std::to_string(IFNAMSIZ - 1) + " bytes");
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0')
      return error(errc::invalid_argument,
                   "interface name '" + std::string(name) + "' contains '/', ':' or whitespace");
  }
  if (name == "." || name == "..")
    return error(errc::invalid_argument, "interface name '" + std::string(name) + "' is reserved");
  return {};
}

namespace {

// One RTM_GETLINK by name or index; ENODEV becomes not_found.
result<link_info> get_link_req(socket& s, request& req, const std::string& what) {
  std::optional<link_info> found;
  auto st = s.transact(req, "get link", what, [&](const nlmsghdr* nlh) {
    if (auto li = parse_link(nlh)) found = std::move(*li);
  });
  if (!st) {
    if (st.err().sys_errno == ENODEV)
      return error(errc::not_found, "link " + what + " does not exist");
    return std::move(st).err();
  }
  if (!found) return error(errc::protocol, "get link " + what + ": no answer message");
  return std::move(*found);
}

result<int> index_of(socket& s, std::string_view name) {
  auto li = get_link(s, name);
  if (!li) return std::move(li).err();
  return li->index;
}

}  // namespace

result<link_info> get_link(socket& s, std::string_view name) {
  OVERLAYD_TRY(check_ifname(name));
  auto req = build_get_link(name, 0);
  return get_link_req(s, req, std::string(name));
}

result<link_info> get_link(socket& s, int index) {
  auto req = build_get_link({}, index);
  return get_link_req(s, req, "#" + std::to_string(index));
}

result<std::vector<link_info>> list_links(socket& s) {
  auto req = build_dump_links();
  std::vector<link_info> out;
  bool overflow = false;
  auto reset = [&] {
    out.clear();
    overflow = false;
  };
  auto st = s.dump_stable(req, "list links", reset, [&](const nlmsghdr* nlh) {
    if (out.size() >= limits::max_dump_entries) {
      overflow = true;
      return;
    }
    if (auto li = parse_link(nlh)) out.push_back(std::move(*li));
  });
  if (!st) return std::move(st).err();
  if (overflow) return error(errc::exhausted, "list links: more than max_dump_entries links");
  return out;
}

status set_link_up(socket& s, std::string_view name, bool up) {
  auto idx = index_of(s, name);
  if (!idx) return std::move(idx).err();
  auto req = build_set_flags(*idx, up ? IFF_UP : 0, IFF_UP);
  return s.transact(req, up ? "set up" : "set down", name);
}

status set_mtu(socket& s, std::string_view name, uint32_t mtu) {
  if (mtu < 68 || mtu > 65535)
    return error(errc::invalid_argument, "MTU " + std::to_string(mtu) + " out of range 68..65535");
  auto idx = index_of(s, name);
  if (!idx) return std::move(idx).err();
  auto req = build_set_mtu(*idx, mtu);
  return s.transact(req, "set mtu", name);
}

status delete_link(socket& s, std::string_view name) {
  OVERLAYD_TRY(check_ifname(name));
  auto req = build_delete_link(name);
  auto st = s.transact(req, "delete link", name);
  if (!st && st.err().sys_errno == ENODEV) return {};  // already gone
  return st;
}

status create_bridge(socket& s, std::string_view name) {
  OVERLAYD_TRY(check_ifname(name));
  auto req = build_new_bridge(name, true);
  auto st = s.transact(req, "create bridge", name);
  if (st || st.err().sys_errno != EEXIST) return st;
  // Exists: fine if it is a bridge; make sure STP is off on it too.
  auto li = get_link(s, name);
  if (!li) return std::move(li).err();
  if (li->kind != "bridge")
    return error(errc::already_exists,
                 "create bridge " + std::string(name) + ": a " +
                     (li->kind.empty() ? std::string("non-bridge") : li->kind) +
                     " link of that name exists");
  auto upd = build_new_bridge(name, false);
  return s.transact(upd, "set stp off", name);
}

status create_veth(socket& s, std::string_view name, std::string_view peer) {
  OVERLAYD_TRY(check_ifname(name));
  OVERLAYD_TRY(check_ifname(peer));
  auto req = build_new_veth(name, peer);
  return s.transact(req, "create veth", std::string(name) + "/" + std::string(peer));
}

status move_to_netns(socket& s, std::string_view name, int netns_fd, std::string_view new_name) {
  OVERLAYD_TRY(check_ifname(new_name));
  if (netns_fd < 0) return error(errc::invalid_argument, "move " + std::string(name) + ": no netns fd");
  auto idx = index_of(s, name);
  if (!idx) return std::move(idx).err();
  auto req = build_move_netns(*idx, netns_fd, new_name);
  return s.transact(req, "move to netns", std::string(name) + " as " + std::string(new_name));
}

status set_master(socket& s, std::string_view name, std::string_view bridge) {
  auto br = index_of(s, bridge);
  if (!br) return std::move(br).err();
  auto idx = index_of(s, name);
  if (!idx) return std::move(idx).err();
  auto req = build_set_master(*idx, *br);
  return s.transact(req, "enslave", std::string(name) + " to " + std::string(bridge));
}

result<size_t> bridge_member_count(socket& s, std::string_view bridge) {
  auto br = index_of(s, bridge);
  if (!br) return std::move(br).err();
  auto links = list_links(s);
  if (!links) return std::move(links).err();
  size_t n = 0;
  for (const auto& l : *links) n += (l.master == *br) ? 1 : 0;
  return n;
}

}  // namespace overlayd::netlink
