#include "net/host/mutator.hpp"

#include <unistd.h>
#include "net/names.hpp"

#include <mutex>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <tuple>

#include "net/host/files.hpp"
#include "net/host/replay_policy.hpp"
#include "net/host/sysctl.hpp"
#include "net/netlink/addr.hpp"
#include "net/netlink/link.hpp"
#include "net/netlink/route.hpp"

namespace overlayd::host {

// What every view of one mutator shares: the journal, the firewall, the
// config. `mu` guards all of it (and the sysctl snapshot-then-write steps);
// it is held only around journal and nftables/sysctl/file steps, never
// across a netlink request, so views work in parallel.
struct mutator::shared {
  shared(mutator_config c, journal j, firewall::firewall f)
      : cfg(std::move(c)), jr(std::move(j)), fw(std::move(f)) {}
  mutator_config cfg;
  journal jr;
  firewall::firewall fw;
  // Firewalls of other table names met in a recovered journal.
  std::map<std::string, firewall::firewall> other_fw;
  // What our firewall calls asked for and are still in force (drift repair
  // replays these), and our tables' listing right after our last change.
  struct firewall_intent {
    std::optional<std::vector<net::cidr>> subnet;
    std::optional<std::vector<net::cidr>> masquerade;
    std::map<std::pair<std::string, std::string>, std::tuple<net::ip_address, net::ip_address, net::cidr>>
        members;  // (network, member ip) -> (member, node ip, cluster)
    std::string listing;
    bool empty() const { return !subnet && !masquerade && members.empty(); }
    // (dst, dev) -> (dst, src) of every replace_route still in force.
    std::map<std::pair<std::string, std::string>, std::pair<net::cidr, std::optional<net::ip_address>>> routes;
    // (dev, cidr) of every add_address of ours still in force.
    std::map<std::pair<std::string, std::string>, net::cidr> addresses;
    void forget_routes_on(std::string_view dev) {
      std::erase_if(routes, [&](const auto& r) { return r.first.second == dev; });
      std::erase_if(addresses, [&](const auto& a) { return a.first.first == dev; });
    }
  } intent;
  std::mutex mu;
};

struct mutator::state {
  std::shared_ptr<shared> sh;
  netlink::socket nl;  // this view's own: one request at a time per view
};

namespace {

change make(change_kind k, std::map<std::string, std::string> p) { return change{k, std::move(p)}; }

std::string join_cidrs(const std::vector<net::cidr>& v) {
  std::string s;
  for (const auto& c : v) s += (s.empty() ? "" : ",") + c.to_string();
  return s;
}

}  // namespace

mutator::mutator(std::unique_ptr<state> s) : s_(std::move(s)) {}
mutator::mutator(mutator&&) noexcept = default;
mutator& mutator::operator=(mutator&&) noexcept = default;
mutator::~mutator() = default;

namespace {

// After a journal was quarantined: what on the host is provably ours, as
// journal entries. Our nft table (by its configured name) and the `zl-`
// bridges our naming scheme makes; veths are the PID sweep's, TUN devices
// die with the process that made them.
std::vector<change> provably_ours(netlink::socket& nl, firewall::firewall& fw) {
  std::vector<change> out;
  if (auto links = netlink::list_links(nl); links) {
    for (const auto& l : *links)
      if (l.kind == "bridge" && l.name.rfind("zl-", 0) == 0 && is_our_link_name(l.name))
        out.push_back(make(change_kind::link, {{"name", l.name}}));
  } else {
    spdlog::warn("host journal: cannot list links to re-own ours: {}", links.err().message);
  }
  if (auto t = fw.table_exists(); t && *t) out.push_back(make(change_kind::nft_table, {{"table", fw.table()}}));
  return out;
}

// The kill -9 campaign's crash point (see mutator.hpp).
void arm_crash_point(journal& jr) {
  const char* env = std::getenv("OVERLAYD_CRASH_AFTER_JOURNAL_WRITES");
  if (!env || !*env) return;
  const long limit = std::strtol(env, nullptr, 10);
  if (limit <= 0) return;
  spdlog::warn("crash point armed: SIGKILL after journal write {}", limit);
  auto writes = std::make_shared<std::atomic<long>>(0);
  jr.set_after_persist([writes, limit] {
    const long n = writes->fetch_add(1) + 1;
    spdlog::debug("crash point: journal write {}", n);  // the campaign's dry run counts these
    if (n == limit) ::kill(::getpid(), SIGKILL);
  });
}

}  // namespace

result<mutator> mutator::open(mutator_config cfg) {
  if (cfg.data_dir.empty()) return error(errc::invalid_argument, "mutator: no data dir");
  auto nl = netlink::socket::open();
  if (!nl) return std::move(nl).err();
  auto fw = firewall::firewall::open(cfg.firewall);
  if (!fw) return std::move(fw).err();
  open_report report;
  auto jr = journal::open(cfg.data_dir);
  if (!jr && jr.err().code == errc::protocol) {
    // Unparsable: keep it for a human, never overwrite it, and go on.
    const std::string path = cfg.data_dir + "/host-journal.json";
    auto aside = quarantine_file(path);
    if (!aside) return error(errc::protocol, jr.err().message + "; moving it aside failed: " + aside.err().message);
    spdlog::error("{} does not parse ({}); kept as {}; re-owning what is provably ours", path, jr.err().message,
                  *aside);
    report.quarantined_to = *aside;
    report.quarantine_reason = jr.err().message;
    jr = journal::open(cfg.data_dir);
    if (jr)
      for (auto& c : provably_ours(*nl, *fw)) {
        report.reowned.push_back(c.describe());
        if (auto r = jr->record(c); !r) return std::move(r).err();
      }
  }
  if (!jr) return std::move(jr).err();
  // Replay only what we would have written ourselves.
  const auto policy = replay_policy::for_config(cfg.firewall.table, cfg.managers);
  std::vector<change> kept;
  for (const auto& c : jr->entries()) {
    if (auto why = policy.reject(c)) {
      spdlog::error("host journal: skipping an entry overlayd does not write, never replaying it: {}: {}",
                    c.describe(), *why);
      report.skipped.push_back(c.describe() + ": " + *why);
    } else {
      kept.push_back(c);
    }
  }
  if (!report.skipped.empty()) OVERLAYD_TRY(jr->replace(std::move(kept)));
  arm_crash_point(*jr);
  size_t leftover = jr->entries().size();
  auto sh = std::make_shared<shared>(std::move(cfg), std::move(*jr), std::move(*fw));
  mutator m(std::make_unique<state>(state{std::move(sh), std::move(*nl)}));
  m.leftover_ = leftover;
  m.report_ = std::move(report);
  return m;
}

result<mutator> mutator::view() {
  auto nl = netlink::socket::open();
  if (!nl) return std::move(nl).err();
  return mutator(std::make_unique<state>(state{s_->sh, std::move(*nl)}));
}

std::vector<change> mutator::changes() const {
  std::lock_guard lk(s_->sh->mu);
  return s_->sh->jr.entries();
}
netlink::socket& mutator::netlink() noexcept { return s_->nl; }

std::unique_lock<std::mutex> mutator::lock() const { return std::unique_lock(s_->sh->mu); }

status mutator::record(change c) {
  std::lock_guard lk(s_->sh->mu);
  return s_->sh->jr.record(std::move(c));
}

status mutator::forget(const change& c) {
  std::lock_guard lk(s_->sh->mu);
  return s_->sh->jr.forget(c);
}

// ---- links -----------------------------------------------------------------

status mutator::create_bridge(std::string_view name) {
  change c = make(change_kind::link, {{"name", std::string(name)}});
  auto existing = netlink::get_link(s_->nl, name);
  // A bridge that was there before us (and is not in our journal) is not
  // ours to delete on teardown: use it, do not record it.
  bool ours = !existing;
  if (!ours) {
    std::lock_guard lk(s_->sh->mu);
    ours = s_->sh->jr.find(c) != nullptr;
  }
  if (ours) OVERLAYD_TRY(record(c));
  auto st = netlink::create_bridge(s_->nl, name);
  if (!st && !existing) (void)forget(c);
  return st;
}

status mutator::create_veth(std::string_view host_name, std::string_view peer_name) {
  change c = make(change_kind::link, {{"name", std::string(host_name)}});
  OVERLAYD_TRY(record(c));
  auto st = netlink::create_veth(s_->nl, host_name, peer_name);
  // EEXIST: the pair was there already and is not what we just made.
  if (!st) (void)forget(c);
  return st;
}

status mutator::delete_link(std::string_view name) {
  {
    std::lock_guard lk(s_->sh->mu);
    s_->sh->intent.forget_routes_on(name);  // first: drift repair must not race the delete
  }
  OVERLAYD_TRY(netlink::delete_link(s_->nl, name));
  return forget(make(change_kind::link, {{"name", std::string(name)}}));
}

status mutator::move_to_netns(std::string_view name, int netns_fd, std::string_view new_name) {
  {
    std::lock_guard lk(s_->sh->mu);
    s_->sh->intent.forget_routes_on(name);
  }
  OVERLAYD_TRY(netlink::move_to_netns(s_->nl, name, netns_fd, new_name));
  return forget(make(change_kind::link, {{"name", std::string(name)}}));
}

// ---- addresses and routes --------------------------------------------------

status mutator::add_address(std::string_view dev, const net::cidr& addr) {
  change c = make(change_kind::address, {{"dev", std::string(dev)}, {"cidr", addr.to_string()}});
  auto present = netlink::list_addresses(s_->nl, dev);
  if (!present) return std::move(present).err();
  bool preexisting = std::find(present->begin(), present->end(), addr) != present->end();
  if (preexisting) {
    std::lock_guard lk(s_->sh->mu);
    if (s_->sh->jr.find(c) == nullptr) return {};  // someone else's
  }
  OVERLAYD_TRY(record(c));
  OVERLAYD_TRY(netlink::add_address(s_->nl, dev, addr));
  std::lock_guard lk(s_->sh->mu);
  s_->sh->intent.addresses[{std::string(dev), addr.to_string()}] = addr;
  return {};
}

status mutator::remove_address(std::string_view dev, const net::cidr& addr) {
  {
    std::lock_guard lk(s_->sh->mu);  // first: drift repair must not put it back
    s_->sh->intent.addresses.erase({std::string(dev), addr.to_string()});
  }
  auto st = netlink::remove_address(s_->nl, dev, addr);
  if (!st && st.err().code != errc::not_found) return st;  // not_found: link gone
  return forget(make(change_kind::address, {{"dev", std::string(dev)}, {"cidr", addr.to_string()}}));
}

status mutator::replace_route(const net::cidr& dst, std::string_view dev,
                              std::optional<net::ip_address> src) {
  OVERLAYD_TRY(netlink::check_route_families(dst, std::nullopt, src));
  OVERLAYD_TRY(record(make(change_kind::route, {{"dst", dst.to_string()}, {"dev", std::string(dev)}})));
  OVERLAYD_TRY(netlink::replace_dev_route(s_->nl, dst, dev, src));
  std::lock_guard lk(s_->sh->mu);
  s_->sh->intent.routes[{dst.to_string(), std::string(dev)}] = {dst, src};
  return {};
}

status mutator::delete_route(const net::cidr& dst, std::string_view dev) {
  const std::pair<std::string, std::string> key{dst.to_string(), std::string(dev)};
  std::optional<std::pair<net::cidr, std::optional<net::ip_address>>> was;
  {
    // Out of the intent first, so drift repair never puts back a route
    // that is being deleted.
    std::lock_guard lk(s_->sh->mu);
    if (auto it = s_->sh->intent.routes.find(key); it != s_->sh->intent.routes.end()) {
      was = it->second;
      s_->sh->intent.routes.erase(it);
    }
  }
  if (auto st = netlink::delete_route(s_->nl, dst, dev); !st) {
    std::lock_guard lk(s_->sh->mu);
    if (was) s_->sh->intent.routes[key] = *was;
    return st;
  }
  return forget(make(change_kind::route, {{"dst", dst.to_string()}, {"dev", std::string(dev)}}));
}

// ---- sysctls ---------------------------------------------------------------

namespace {

// Snapshot-once write: the first record keeps the value from before our
// first change; later calls only write.
status set_sysctl_journaled(journal& jr, const std::string& key, std::string_view value) {
  change like = make(change_kind::sysctl, {{"key", key}});
  jr.claim(like);
  if (jr.find(like) == nullptr) {
    auto prev = read_sysctl(key);
    if (!prev) return std::move(prev).err();
    like.params["prev"] = *prev;
    OVERLAYD_TRY(jr.record(like));
  }
  return write_sysctl(key, value);
}

}  // namespace

status mutator::enable_ipv4_forwarding() {
  auto lk = lock();
  return set_sysctl_journaled(s_->sh->jr, std::string(ipv4_forward_key), "1");
}

status mutator::enable_ipv6_forwarding(std::string_view dev) {
  OVERLAYD_TRY(netlink::check_ifname(dev));
  auto lk = lock();
  OVERLAYD_TRY(set_sysctl_journaled(s_->sh->jr, ipv6_forwarding_key(dev), "1"));
  // Without force_forwarding (Linux >= 6.17) the kernel forwards v6 only
  // when all.forwarding is on, which we never set (see sysctl.hpp). Older
  // kernels lack the knob: v6 transit through this host then needs the
  // operator to enable all.forwarding knowingly.
  const std::string force = ipv6_force_forwarding_key(dev);
  if (!read_sysctl(force)) {
    spdlog::warn("{} is absent (kernel < 6.17): IPv6 is forwarded only with all.forwarding=1", force);
    return {};
  }
  return set_sysctl_journaled(s_->sh->jr, force, "1");
}

// ---- network managers ------------------------------------------------------

status mutator::mark_unmanaged() {
  auto lk = lock();
  for (const auto& d : unmanaged_dropins(s_->sh->cfg.managers)) {
    OVERLAYD_TRY(s_->sh->jr.record(make(change_kind::file, {{"path", d.path}})));
    // 0644: networkd and NetworkManager read them as their own users.
    OVERLAYD_TRY(write_file_atomic(d.path, d.content, 0644));
  }
  return {};
}

status mutator::unmark_unmanaged() {
  auto lk = lock();
  for (const auto& c : std::vector<change>(s_->sh->jr.entries())) {
    if (c.kind != change_kind::file) continue;
    OVERLAYD_TRY(remove_file(c.param("path")));
    OVERLAYD_TRY(s_->sh->jr.forget(c));
  }
  return {};
}

// ---- firewall --------------------------------------------------------------

// Caller holds the lock.
status mutator::record_table() {
  change c = make(change_kind::nft_table, {{"table", s_->sh->fw.table()}});
  s_->sh->jr.claim(c);  // a restart's leftover table is ours again
  if (s_->sh->jr.find(c) != nullptr) return {};
  auto exists = s_->sh->fw.table_exists();
  if (!exists) return std::move(exists).err();
  if (*exists)
    return error(errc::already_exists, "nft table inet " + s_->sh->fw.table() +
                                           " exists and is not in our journal (another daemon?)");
  return s_->sh->jr.record(c);
}

status mutator::ensure_subnet_rules(const std::vector<net::cidr>& cluster) {
  auto lk = lock();
  OVERLAYD_TRY(record_table());
  OVERLAYD_TRY(s_->sh->jr.record(make(change_kind::nft_subnet, {{"table", s_->sh->fw.table()}, {"cidrs", join_cidrs(cluster)}})));
  OVERLAYD_TRY(s_->sh->fw.ensure_subnet_rules(cluster));
  s_->sh->intent.subnet = cluster;
  note_firewall_change();
  return {};
}

status mutator::remove_subnet_rules(const std::vector<net::cidr>& cluster) {
  auto lk = lock();
  OVERLAYD_TRY(s_->sh->fw.remove_subnet_rules(cluster));
  s_->sh->intent.subnet.reset();
  note_firewall_change();
  return s_->sh->jr.forget(make(change_kind::nft_subnet, {{"table", s_->sh->fw.table()}, {"cidrs", join_cidrs(cluster)}}));
}

status mutator::ensure_masquerade(const std::vector<net::cidr>& cluster) {
  auto lk = lock();
  OVERLAYD_TRY(record_table());
  OVERLAYD_TRY(s_->sh->jr.record(make(change_kind::nft_masquerade, {{"table", s_->sh->fw.table()}})));
  OVERLAYD_TRY(s_->sh->fw.ensure_masquerade(cluster));
  s_->sh->intent.masquerade = cluster;
  note_firewall_change();
  return {};
}

status mutator::remove_masquerade() {
  auto lk = lock();
  OVERLAYD_TRY(s_->sh->fw.remove_masquerade());
  s_->sh->intent.masquerade.reset();
  note_firewall_change();
  return s_->sh->jr.forget(make(change_kind::nft_masquerade, {{"table", s_->sh->fw.table()}}));
}

status mutator::ensure_member_isolation(std::string_view network, const net::ip_address& member,
                                        const net::ip_address& node_ip, const net::cidr& cluster) {
  // The name goes into the journal verbatim (net/names.hpp has the rule).
  if (auto why = net::isolation_network_name_problem(network); !why.empty())
    return error(errc::invalid_argument, "isolation network name '" + std::string(network) + "' " + why);
  auto lk = lock();
  OVERLAYD_TRY(record_table());
  OVERLAYD_TRY(s_->sh->jr.record(make(change_kind::nft_member, {{"table", s_->sh->fw.table()},
                                                     {"network", std::string(network)},
                                                     {"ip", member.to_string()}})));
  OVERLAYD_TRY(s_->sh->fw.ensure_member_isolation(network, member, node_ip, cluster));
  s_->sh->intent.members[{std::string(network), member.to_string()}] = {member, node_ip, cluster};
  note_firewall_change();
  return {};
}

status mutator::remove_member_isolation(std::string_view network, const net::ip_address& member) {
  auto lk = lock();
  OVERLAYD_TRY(s_->sh->fw.remove_member_isolation(network, member));
  s_->sh->intent.members.erase({std::string(network), member.to_string()});
  note_firewall_change();
  return s_->sh->jr.forget(make(change_kind::nft_member, {{"table", s_->sh->fw.table()},
                                                      {"network", std::string(network)},
                                                      {"ip", member.to_string()}}));
}

status mutator::remove_overlay_isolation() {
  auto lk = lock();
  OVERLAYD_TRY(s_->sh->fw.remove_overlay_isolation());
  s_->sh->intent.members.clear();
  note_firewall_change();
  for (const auto& c : std::vector<change>(s_->sh->jr.entries()))
    if (c.kind == change_kind::nft_member && c.param("table") == s_->sh->fw.table())
      OVERLAYD_TRY(s_->sh->jr.forget(c));
  return {};
}

// ---- drift -------------------------------------------------------------------

namespace {

// Both of our tables (inet for filtering, bridge for isolation on bridges),
// as nft lists them; "" for a missing one. Our rules carry no counters, so
// the text changes only when the ruleset does.
std::string list_our_tables(firewall::firewall& fw) {
  std::string out;
  for (const char* fam : {"inet", "bridge"}) {
    auto l = fw.nft().run(std::string("list table ") + fam + " " + fw.table());
    out += fam;
    out += ":\n";
    if (l) out += *l;
  }
  return out;
}

}  // namespace

// Caller holds the lock.
void mutator::note_firewall_change() { s_->sh->intent.listing = list_our_tables(s_->sh->fw); }

result<bool> mutator::repair_firewall_drift() {
  auto lk = lock();
  auto& in = s_->sh->intent;
  auto& fw = s_->sh->fw;
  if (in.empty()) return false;
  const std::string now = list_our_tables(fw);
  if (now == in.listing) return false;
  // Rebuild from scratch rather than patch: whatever was changed, the result
  // is exactly what our calls asked for.
  fw.forget_cache();
  OVERLAYD_TRY(fw.remove_table());
  if (in.subnet) OVERLAYD_TRY(fw.ensure_subnet_rules(*in.subnet));
  if (in.masquerade) OVERLAYD_TRY(fw.ensure_masquerade(*in.masquerade));
  for (const auto& [key, m] : in.members)
    OVERLAYD_TRY(fw.ensure_member_isolation(key.first, std::get<0>(m), std::get<1>(m), std::get<2>(m)));
  in.listing = list_our_tables(fw);
  return true;
}

result<size_t> mutator::repair_route_drift() {
  auto lk = lock();
  auto& routes = s_->sh->intent.routes;
  size_t restored = 0;
  for (auto it = routes.begin(); it != routes.end();) {
    const auto& [key, r] = *it;
    if (auto l = netlink::get_link(s_->nl, key.second); !l) {
      if (l.err().code != errc::not_found) return std::move(l).err();
      it = routes.erase(it);  // the route went with its device
      continue;
    }
    auto back = netlink::restore_dev_route(s_->nl, r.first, key.second, r.second);
    if (!back) return std::move(back).err();
    if (*back) {
      spdlog::warn("host drift: route {} dev {} was removed by someone else; restored it", key.first, key.second);
      ++restored;
    }
    ++it;
  }
  return restored;
}

result<size_t> mutator::repair_address_drift() {
  auto lk = lock();
  auto& addrs = s_->sh->intent.addresses;
  size_t restored = 0;
  for (auto it = addrs.begin(); it != addrs.end();) {
    const auto& [key, cidr] = *it;
    auto have = netlink::list_addresses(s_->nl, key.first);
    if (!have) {
      if (have.err().code != errc::not_found) return std::move(have).err();
      it = addrs.erase(it);  // the address went with its device
      continue;
    }
    if (std::find(have->begin(), have->end(), cidr) == have->end()) {
      OVERLAYD_TRY(netlink::add_address(s_->nl, key.first, cidr));
      spdlog::warn("host drift: address {} on {} was removed by someone else; restored it", key.second, key.first);
      ++restored;
    }
    ++it;
  }
  return restored;
}

// ---- revert and recovery ---------------------------------------------------

result<firewall::firewall*> mutator::firewall_for(const std::string& table) {
  if (table == s_->sh->fw.table()) return &s_->sh->fw;
  auto it = s_->sh->other_fw.find(table);
  if (it == s_->sh->other_fw.end()) {
    auto cfg = s_->sh->cfg.firewall;
    cfg.table = table;
    auto fw = firewall::firewall::open(cfg);
    if (!fw) return std::move(fw).err();
    it = s_->sh->other_fw.emplace(table, std::move(*fw)).first;
  }
  return &it->second;
}

status mutator::revert_one(const change& c) {
  auto& nl = s_->nl;
  switch (c.kind) {
    case change_kind::link:
      return netlink::delete_link(nl, c.param("name"));
    case change_kind::address: {
      auto cidr = net::cidr::parse(c.param("cidr"));
      if (!cidr) return std::move(cidr).err();
      auto st = netlink::remove_address(nl, c.param("dev"), *cidr);
      if (!st && st.err().code == errc::not_found) return {};  // link gone, address too
      return st;
    }
    case change_kind::route: {
      auto dst = net::cidr::parse(c.param("dst"));
      if (!dst) return std::move(dst).err();
      return netlink::delete_route(nl, *dst, c.param("dev"));
    }
    case change_kind::sysctl: {
      auto st = write_sysctl(c.param("key"), c.param("prev"));
      if (!st && st.err().code == errc::not_found) return {};  // its device is gone
      return st;
    }
    case change_kind::file:
      return remove_file(c.param("path"));
    default:
      break;
  }
  auto fw = firewall_for(c.param("table"));
  if (!fw) return std::move(fw).err();
  switch (c.kind) {
    case change_kind::nft_table:
      return (*fw)->remove_table();
    case change_kind::nft_subnet: {
      auto cidrs = net::parse_cidr_list(c.param("cidrs"));
      if (!cidrs) return std::move(cidrs).err();
      return (*fw)->remove_subnet_rules(*cidrs);
    }
    case change_kind::nft_masquerade:
      return (*fw)->remove_masquerade();
    case change_kind::nft_member: {
      auto ip = net::ip_address::parse(c.param("ip"));
      if (!ip) return std::move(ip).err();
      return (*fw)->remove_member_isolation(c.param("network"), *ip);
    }
    default:
      return error(errc::internal, "revert: unhandled kind " + std::string(to_string(c.kind)));
  }
}

status mutator::revert_all() {
  auto lk = lock();
  s_->sh->intent = {};  // nothing of ours is expected any more
  std::vector<change> failed;
  const auto entries = s_->sh->jr.entries();
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    auto st = revert_one(*it);
    if (st) continue;
    spdlog::warn("host revert: {} failed: {}", it->describe(), st.err().message);
    failed.insert(failed.begin(), *it);
  }
  OVERLAYD_TRY(s_->sh->jr.replace(failed));
  for (const auto& c : failed) s_->sh->jr.claim(c);  // nothing is a leftover any more
  if (!failed.empty())
    return error(errc::system, std::to_string(failed.size()) + " host change(s) could not be reverted");
  return {};
}

bool mutator::still_exists(const change& c) {
  switch (c.kind) {
    case change_kind::link:
      return netlink::get_link(s_->nl, c.param("name")).ok();
    case change_kind::address: {
      auto cidr = net::cidr::parse(c.param("cidr"));
      auto have = netlink::list_addresses(s_->nl, c.param("dev"));
      return cidr && have && std::find(have->begin(), have->end(), *cidr) != have->end();
    }
    case change_kind::route:
      return netlink::get_link(s_->nl, c.param("dev")).ok();
    case change_kind::sysctl:
      return read_sysctl(c.param("key")).ok();
    case change_kind::file:
      return path_exists(c.param("path"));
    default: {
      auto fw = firewall_for(c.param("table"));
      if (!fw) return false;
      auto exists = (*fw)->table_exists();
      return exists && *exists;
    }
  }
}

status mutator::recover(recovery_mode mode) {
  {
    auto lk = lock();
    if (s_->sh->jr.empty()) return {};
  }
  if (mode == recovery_mode::revert) {
    spdlog::info("host journal: reverting change(s) left by a previous run");
    return revert_all();
  }
  auto lk = lock();
  std::vector<change> kept;
  for (const auto& c : s_->sh->jr.entries()) {
    if (still_exists(c))
      kept.push_back(c);
    else
      spdlog::info("host journal: {} no longer exists; dropping its record", c.describe());
  }
  OVERLAYD_TRY(s_->sh->jr.replace(std::move(kept)));
  s_->sh->jr.mark_unclaimed();
  return {};
}

std::vector<change> mutator::unclaimed() const {
  std::lock_guard lk(s_->sh->mu);
  return s_->sh->jr.unclaimed();
}

void mutator::claim_device(std::string_view dev) {
  std::lock_guard lk(s_->sh->mu);
  s_->sh->jr.claim_device(dev);
}

result<std::vector<std::string>> mutator::revert_unclaimed() {
  auto lk = lock();
  std::vector<std::string> reverted;
  size_t failures = 0;
  const auto entries = s_->sh->jr.entries();
  const auto unclaimed = s_->sh->jr.unclaimed();
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const bool leftover = std::any_of(unclaimed.begin(), unclaimed.end(),
                                      [&](const change& u) { return u.same_resource(*it); });
    if (!leftover) continue;
    if (auto st = revert_one(*it); !st) {
      spdlog::warn("host revert of an unclaimed leftover: {} failed: {}", it->describe(), st.err().message);
      ++failures;
      continue;
    }
    OVERLAYD_TRY(s_->sh->jr.forget(*it));
    reverted.push_back(it->describe());
  }
  if (failures)
    return error(errc::system, std::to_string(failures) + " unclaimed host change(s) could not be reverted");
  return reverted;
}

}  // namespace overlayd::host
