#include "net/firewall/firewall.hpp"

#include <nlohmann/json.hpp>

#include "net/firewall/iptables.hpp"
#include "net/firewall/rules.hpp"

namespace overlayd::firewall {

result<firewall> firewall::open(firewall_config cfg) {
  OVERLAYD_TRY(check_table_name(cfg.table));
  auto ctx = nft_context::open();
  if (!ctx) return std::move(ctx).err();
  return firewall(std::move(cfg), std::move(*ctx));
}

status firewall::run(const std::string& commands) {
  auto r = nft_.run(commands);
  if (!r) return std::move(r).err();
  return {};
}

result<bool> firewall::table_exists() {
  // A failed list means "no such table" (the only way it fails for a
  // validated name when nft itself works).
  return nft_.run(render_table_exists_probe(cfg_.table)).ok();
}

void firewall::forget_cache() noexcept {
  table_known_ = false;
  networks_known_.clear();
}

status firewall::ensure_table() {
  if (table_known_) return {};
  auto exists = table_exists();
  if (!exists) return std::move(exists).err();
  if (!*exists) OVERLAYD_TRY(run(render_skeleton(cfg_.table)));
  table_known_ = true;
  return {};
}

status firewall::remove_table() {
  forget_cache();
  // Each family's table on its own: after a crash mid-setup either may be
  // missing.
  for (const char* fam : {"inet", "bridge"}) {
    const std::string t = std::string(fam) + " " + cfg_.table;
    if (nft_.run("list table " + t)) OVERLAYD_TRY(run("delete table " + t + "\n"));
  }
  return {};
}

status firewall::ensure_subnet_rules(const std::vector<net::cidr>& cluster) {
  OVERLAYD_TRY(ensure_table());
  OVERLAYD_TRY(run(render_subnet_rules(cfg_.table, cluster)));
  if (cfg_.iptables_compat) return ensure_iptables_accepts(nft_, cluster, iptables_tag());
  return {};
}

status firewall::remove_subnet_rules(const std::vector<net::cidr>& cluster) {
  status st;
  auto exists = table_exists();
  if (exists && *exists) st = run(render_clear_subnet_rules(cfg_.table));
  if (cfg_.iptables_compat) {
    auto ipt = remove_iptables_accepts(nft_, cluster, iptables_tag());
    if (st && !ipt) st = std::move(ipt);
  }
  return st;
}

status firewall::ensure_masquerade(const std::vector<net::cidr>& cluster) {
  OVERLAYD_TRY(ensure_table());
  return run(render_masquerade(cfg_.table, cluster));
}

status firewall::remove_masquerade() {
  auto exists = table_exists();
  if (!exists || !*exists) return {};
  return run(render_clear_masquerade(cfg_.table));
}

status firewall::ensure_member_isolation(std::string_view network, const net::ip_address& member,
                                         const net::ip_address& node_ip,
                                         const net::cidr& cluster) {
  OVERLAYD_TRY(check_isolation_args(member, node_ip, cluster));
  if (network.empty()) return error(errc::invalid_argument, "isolation network name is empty");
  if (ensure_member_once(network, member, node_ip, cluster)) return {};
  forget_cache();  // someone changed our table under us: probe everything again
  return ensure_member_once(network, member, node_ip, cluster);
}

status firewall::ensure_member_once(std::string_view network, const net::ip_address& member,
                                    const net::ip_address& node_ip, const net::cidr& cluster) {
  OVERLAYD_TRY(ensure_table());
  const std::string id = network_id(network);
  const std::string key = id + (member.is_v4() ? "/4" : "/6");
  std::string cmds;
  // First member of this network in this family: create its set and chains
  // in the same transaction as the element adds.
  if (!networks_known_.contains(key) && !nft_.run(render_network_probe(cfg_.table, id, member.fam())))
    cmds = render_network(cfg_.table, id, member.fam(), node_ip, cluster);
  cmds += render_member_add(cfg_.table, id, member);
  OVERLAYD_TRY(run(cmds));
  networks_known_.insert(key);
  return {};
}

status firewall::remove_member_isolation(std::string_view network, const net::ip_address& member) {
  auto exists = table_exists();
  if (!exists || !*exists) return {};
  auto cmds = render_member_remove(cfg_.table, network_id(network), member);
  std::string all;
  for (const auto& c : cmds) all += c;
  if (run(all)) return {};
  // Some element was already gone (nft 1.0.6 has no `destroy`): retry one
  // by one; "not there" is the state we want.
  for (const auto& c : cmds) (void)run(c);
  return {};
}

namespace {

struct iso_names {
  std::vector<std::string> chains, sets;
};

// Our per-network chains (s4_/d4_/s6_/d6_) and sets (m4_/m6_) in an
// `nft -j list table` answer.
result<iso_names> isolation_objects(const std::string& listing) {
  iso_names out;
  auto is_ours = [](const std::string& n, std::string_view firsts) {
    return n.size() > 3 && firsts.find(n[0]) != std::string_view::npos &&
           (n[1] == '4' || n[1] == '6') && n[2] == '_';
  };
  try {
    auto doc = nlohmann::json::parse(listing);
    for (const auto& obj : doc.at("nftables")) {
      if (obj.contains("chain")) {
        auto name = obj["chain"].at("name").get<std::string>();
        if (is_ours(name, "sd")) out.chains.push_back(name);
      } else if (obj.contains("set")) {
        auto name = obj["set"].at("name").get<std::string>();
        if (is_ours(name, "m")) out.sets.push_back(name);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return error(errc::protocol, std::string("nft list table: unexpected JSON: ") + e.what());
  }
  return out;
}

}  // namespace

status firewall::remove_overlay_isolation() {
  networks_known_.clear();
  auto exists = table_exists();
  if (!exists || !*exists) return {};
  std::string flushes, chains, sets;
  for (const char* fam : {"inet", "bridge"}) {
    const std::string t = std::string(fam) + " " + cfg_.table;
    auto listing = nft_.run("list table " + t, true);
    if (!listing) continue;  // the bridge twin may be missing after a partial setup
    // Flush the maps first: their verdicts reference the chains we delete.
    for (const char* m : {"iso_src4", "iso_dst4", "iso_src6", "iso_dst6"})
      flushes += "flush map " + t + " " + m + "\n";
    auto names = isolation_objects(*listing);
    if (!names) return std::move(names).err();
    for (const auto& c : names->chains) chains += "delete chain " + t + " " + c + "\n";
    for (const auto& st : names->sets) sets += "delete set " + t + " " + st + "\n";
  }
  return run(flushes + chains + sets);
}

}  // namespace overlayd::firewall
