// host::mutator: the one way the engine changes the host. Each call
// performs an operation through netlink / nftables / sysctl / files AND
// journals it (write-ahead: the record is on disk before the kernel is
// asked), so teardown and crash recovery know exactly what we made and
// nothing is ever swept by name.
//
// Works in the network namespace of the thread that opened it (the
// netlink socket and /proc/sys are bound there). One mutator is used by one
// thread at a time; view() gives another handle on the same journal and
// firewall with its own netlink socket, so actors (one per service) change
// the host in parallel while every change still lands in the one journal. Container-side configuration (inside
// a container's namespace) is not journaled: it dies with the namespace.
//
// What is journaled and how it is undone:
//   create_bridge / create_veth     -> delete the link (host side of a veth)
//   add_address                     -> remove it
//   replace_route                   -> delete it
//   enable_ipv4/ipv6_forwarding     -> write back the value seen before our
//                                      first write (snapshot once)
//   mark_unmanaged                  -> remove the drop-in files
//   firewall ensure_*               -> the matching remove_*, then our table
// Link up/MTU/master changes are not journaled: they go with the link.
//
// Testing hook (the kill -9 campaign, tests/system/host_kill9_campaign.sh):
// with OVERLAYD_CRASH_AFTER_JOURNAL_WRITES=N in the environment at open(),
// the process SIGKILLs itself right after the Nth journal write of this
// run reaches the disk — the worst moment: the journal says more than the
// kernel has. Unset (always, outside that test) it does nothing.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "net/firewall/firewall.hpp"
#include "net/host/journal.hpp"
#include "net/host/netmgr.hpp"
#include "net/ip.hpp"
#include "net/netlink/socket.hpp"

namespace overlayd::host {

struct mutator_config {
  std::string data_dir;                // the journal lives here
  firewall::firewall_config firewall;  // table name, iptables compat
  manager_dirs managers;               // networkd / NetworkManager dirs
};

// What to do with a journal left by a run that did not tear down.
enum class recovery_mode {
  revert,  // undo everything it lists (default)
  adopt,   // keep what still exists as ours; drop records of what is gone
};

class mutator {
 public:
  static result<mutator> open(mutator_config cfg);

  mutator(mutator&&) noexcept;
  mutator& operator=(mutator&&) noexcept;
  ~mutator();

  // Another handle on the same journal and firewall, with its own netlink
  // socket (opened in the calling thread's namespace).
  result<mutator> view();

  // Entries found on disk at open() (a previous run's leftovers), after the
  // replay policy dropped what is not ours.
  size_t leftover_changes() const noexcept { return leftover_; }

  // What open() found wrong with the journal on disk. A journal that does
  // not parse is moved aside (never overwritten) and the node is not left
  // bricked: what is provably ours (our nft table, `zl-` bridges by our
  // naming scheme) is re-owned into a fresh journal, so recovery reverts it
  // like any leftover. Entries outside the replay policy are skipped.
  struct open_report {
    std::optional<std::string> quarantined_to;  // where the unparsable journal went
    std::string quarantine_reason;
    std::vector<std::string> skipped;  // "<entry>: <why>"
    std::vector<std::string> reowned;  // entries re-owned after a quarantine
  };
  const open_report& report() const noexcept { return report_; }
  // revert: undo every leftover now. adopt: keep what still exists, drop
  // the records of what is gone, and hold the rest as "unclaimed" until
  // this run makes or confirms the same resource (any journaling call
  // does; claim_device for links adopted as they are). The caller ends
  // the grace period with revert_unclaimed().
  status recover(recovery_mode mode = recovery_mode::revert);
  // Leftovers adopted at recover(adopt) and not claimed since.
  std::vector<change> unclaimed() const;
  void claim_device(std::string_view dev);
  // Reverts the unclaimed leftovers in reverse journal order (best-effort,
  // as revert_all) and returns what it reverted ("<entry>").
  result<std::vector<std::string>> revert_unclaimed();
  // Reverts every journaled change in reverse order, best-effort: each step
  // is idempotent, failures are logged and skipped, and their records kept
  // (the returned error counts them) so a later call can retry.
  status revert_all();

  // ---- links ----
  status create_bridge(std::string_view name);
  status create_veth(std::string_view host_name, std::string_view peer_name);
  status delete_link(std::string_view name);
  // Moves `name` into `netns_fd` as `new_name`; a journaled link that
  // leaves this namespace is no longer ours to delete here.
  status move_to_netns(std::string_view name, int netns_fd, std::string_view new_name);

  // ---- addresses and routes ----
  status add_address(std::string_view dev, const net::cidr& addr);
  status remove_address(std::string_view dev, const net::cidr& addr);
  status replace_route(const net::cidr& dst, std::string_view dev,
                       std::optional<net::ip_address> src = std::nullopt);
  status delete_route(const net::cidr& dst, std::string_view dev);

  // ---- sysctls ----
  // net.ipv4.ip_forward=1 (global; v4 has no per-interface routing knob).
  status enable_ipv4_forwarding();
  // net.ipv6.conf.<dev>.forwarding=1 and, where the kernel has it (>= 6.17),
  // force_forwarding=1: per-interface, never all.forwarding. Call it for the
  // interfaces overlay traffic enters by (bridges, host-side veths, wg).
  status enable_ipv6_forwarding(std::string_view dev);

  // ---- network managers ----
  status mark_unmanaged();
  status unmark_unmanaged();

  // ---- firewall ----
  status ensure_subnet_rules(const std::vector<net::cidr>& cluster);
  status remove_subnet_rules(const std::vector<net::cidr>& cluster);
  status ensure_masquerade(const std::vector<net::cidr>& cluster);
  status remove_masquerade();
  status ensure_member_isolation(std::string_view network, const net::ip_address& member,
                                 const net::ip_address& node_ip, const net::cidr& cluster);
  status remove_member_isolation(std::string_view network, const net::ip_address& member);
  status remove_overlay_isolation();

  // ---- drift ----
  // Our nft tables as we last left them are remembered (their listing right
  // after each of our changes, and the arguments of every ensure_* still in
  // force). When the listing differs now (someone ran `nft flush ruleset`,
  // deleted a set element, ...), our tables are rebuilt from those
  // arguments. Returns whether it repaired anything. Nothing is expected
  // before the first ensure_* or after revert_all.
  result<bool> repair_firewall_drift();
  // The same for our routes (replace_route calls still in force): each one
  // missing is added back; a route whose device is gone is forgotten (it
  // went with its device). Returns how many were restored.
  result<size_t> repair_route_drift();
  // The same for our addresses (add_address calls still in force).
  result<size_t> repair_address_drift();

  // A copy of the journal's entries (other views may be appending).
  std::vector<change> changes() const;
  // This view's socket, for reads and for plumbing that journals through us.
  netlink::socket& netlink() noexcept;

 private:
  struct shared;
  struct state;
  explicit mutator(std::unique_ptr<state> s);
  std::unique_lock<std::mutex> lock() const;
  status record(change c);
  status forget(const change& c);
  status record_table();
  void note_firewall_change();  // caller holds the lock
  status revert_one(const change& c);
  bool still_exists(const change& c);
  result<firewall::firewall*> firewall_for(const std::string& table);

  std::unique_ptr<state> s_;
  size_t leftover_ = 0;
  open_report report_;
};

}  // namespace overlayd::host
