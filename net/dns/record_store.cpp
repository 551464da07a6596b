#include "net/dns/record_store.hpp"

#include <algorithm>
#include <cctype>

#include "net/dns/message.hpp"

namespace overlayd::net::dns {

result<std::pair<std::string, bool>> record_key(std::string_view text) {
  bool absolute = !text.empty() && text.back() == '.';
  if (text.empty() || text == ".")
    return error(errc::invalid_argument, "invalid DNS record name: empty");
  auto n = name::parse(text);
  if (!n) return error(errc::invalid_argument, "invalid DNS record name '" + std::string(text) + "': " + n.err().message);
  for (const auto& label : n->labels())
    for (char c : label)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
        return error(errc::invalid_argument, "invalid DNS record name '" + std::string(text) +
                                                 "': only letters, digits, '-' and '_' in labels");
  return std::pair{n->key(), absolute};
}

const record_entry* record_table::find(std::string_view key) const {
  auto it = by_name_.find(std::string(key));
  return it == by_name_.end() ? nullptr : &it->second;
}

std::span<const std::string> record_table::names_for(const ip_address& ip) const {
  auto it = by_address_.find(ip);
  if (it == by_address_.end()) return {};
  return it->second;
}

std::vector<record_entry> record_table::entries() const {
  std::vector<record_entry> out;
  out.reserve(by_name_.size());
  for (const auto& [k, e] : by_name_) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

bool record_table::has_descendants(std::string_view key) const {
  return ancestors_.count(std::string(key)) != 0;
}

void record_table::rebuild_indexes() {
  by_address_.clear();
  ancestors_.clear();
  for (const auto& e : entries()) {  // sorted: PTR answers come in a stable order
    for (const auto& ip : e.addresses) by_address_[ip].push_back(e.key);
    for (size_t dot = e.key.find('.'); dot != std::string::npos; dot = e.key.find('.', dot + 1))
      ancestors_.insert(e.key.substr(dot + 1));
  }
}

record_store::record_store(size_t max_names)
    : max_names_(max_names), current_(std::make_shared<const record_table>()) {}

// Under write_mu_.
void record_store::publish(std::shared_ptr<record_table> next) {
  next->serial_ = snapshot()->serial() + 1;
  next->rebuild_indexes();
  std::lock_guard lock(snapshot_mu_);
  current_ = std::move(next);
}

status record_store::update(std::string_view name, const ip_address& ip, bool replace) {
  auto key = record_key(name);
  if (!key) return std::move(key).err();
  std::lock_guard lock(write_mu_);
  auto next = std::make_shared<record_table>(*snapshot());
  auto it = next->by_name_.find(key->first);
  if (it == next->by_name_.end()) {
    if (next->by_name_.size() >= max_names_)
      return error(errc::exhausted, "DNS record '" + std::string(name) + "': the limit of " +
                                        std::to_string(max_names_) + " names is reached");
    it = next->by_name_.emplace(key->first, record_entry{key->first, key->second, {}}).first;
  }
  auto& e = it->second;
  e.absolute = key->second;
  if (replace) {
    e.addresses = {ip};
  } else if (std::find(e.addresses.begin(), e.addresses.end(), ip) == e.addresses.end()) {
    if (e.addresses.size() >= limits::max_addresses_per_name)
      return error(errc::exhausted, "DNS record '" + std::string(name) + "': the limit of " +
                                        std::to_string(limits::max_addresses_per_name) +
                                        " addresses is reached");
    e.addresses.push_back(ip);
  }
  publish(std::move(next));
  return {};
}

status record_store::set(std::string_view name, const ip_address& ip) { return update(name, ip, true); }
status record_store::add(std::string_view name, const ip_address& ip) { return update(name, ip, false); }

bool record_store::remove(std::string_view name) {
  auto key = record_key(name);
  if (!key) return false;
  std::lock_guard lock(write_mu_);
  auto cur = snapshot();
  if (!cur->find(key->first)) return false;
  auto next = std::make_shared<record_table>(*cur);
  next->by_name_.erase(key->first);
  publish(std::move(next));
  return true;
}

status record_store::replace_all(const std::vector<std::pair<std::string, ip_address>>& records) {
  auto next = std::make_shared<record_table>();
  for (const auto& [n, ip] : records) {
    auto key = record_key(n);
    if (!key) return std::move(key).err();
    auto [it, fresh] = next->by_name_.try_emplace(key->first, record_entry{key->first, key->second, {}});
    if (fresh && next->by_name_.size() > max_names_)
      return error(errc::exhausted, "DNS records: more than " + std::to_string(max_names_) + " names");
    auto& addrs = it->second.addresses;
    if (std::find(addrs.begin(), addrs.end(), ip) != addrs.end()) continue;
    if (addrs.size() >= limits::max_addresses_per_name)
      return error(errc::exhausted, "DNS record '" + n + "': more than " +
                                        std::to_string(limits::max_addresses_per_name) + " addresses");
    addrs.push_back(ip);
  }
  std::lock_guard lock(write_mu_);
  publish(std::move(next));
  return {};
}

void record_store::clear() {
  std::lock_guard lock(write_mu_);
  publish(std::make_shared<record_table>());
}

}  // namespace overlayd::net::dns
