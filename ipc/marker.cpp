#include "ipc/marker.hpp"

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.hpp"

namespace overlayd::ipc {

namespace {
using json = nlohmann::json;

template <class T>
void opt_in(const json& j, const char* k, std::optional<T>& out) {
  if (auto it = j.find(k); it != j.end() && !it->is_null()) out = it->get<T>();
}
}  // namespace

network_marker network_marker::parse(std::string_view text, std::string* warning) {
  network_marker m;
  try {
    auto j = json::parse(text);
    if (!j.is_object() || !j.contains("networks") || !j["networks"].is_array())
      throw std::runtime_error("no \"networks\" array");
    for (const auto& e : j["networks"]) {
      if (m.networks_.size() >= max_entries) throw std::runtime_error("too many entries");
      managed_network n;
      n.owner = e.at("owner").get<std::string>();
      n.kind = e.at("kind").get<std::string>();
      n.name = e.at("name").get<std::string>();
      n.id = e.at("id").get<std::string>();
      n.subnet = e.at("subnet").get<std::string>();
      opt_in(e, "wg_port", n.wg_port);
      opt_in(e, "wg_private_key", n.wg_private_key);
      opt_in(e, "wg_public_key", n.wg_public_key);
      opt_in(e, "interface", n.interface);
      m.upsert(std::move(n));
    }
  } catch (const std::exception& e) {
    if (warning) *warning = std::string("malformed network marker, starting empty: ") + e.what();
    return network_marker{};
  }
  return m;
}

network_marker network_marker::load(const std::string& path, std::string* warning) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno != ENOENT && warning)
      *warning = "network marker " + path + " unreadable, starting empty";
    return network_marker{};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string w;
  auto m = parse(ss.str(), &w);
  if (!w.empty() && warning) *warning = path + ": " + w;
  return m;
}

std::string network_marker::serialize() const {
  json arr = json::array();
  for (const auto& n : networks_) {
    json e{{"owner", n.owner}, {"kind", n.kind}, {"name", n.name}, {"id", n.id}, {"subnet", n.subnet}};
    if (n.wg_port) e["wg_port"] = *n.wg_port;
    if (n.wg_private_key) e["wg_private_key"] = *n.wg_private_key;
    if (n.wg_public_key) e["wg_public_key"] = *n.wg_public_key;
    if (n.interface) e["interface"] = *n.interface;
    arr.push_back(std::move(e));
  }
  return json{{"version", 1}, {"networks", std::move(arr)}}.dump(2);
}

status network_marker::save(const std::string& path) const {
  // 0600: the file holds private keys.
  return write_file_atomic(path, serialize(), 0600);
}

const managed_network* network_marker::get(const std::string& owner) const {
  for (const auto& n : networks_)
    if (n.owner == owner) return &n;
  return nullptr;
}

void network_marker::upsert(managed_network n) {
  for (auto& e : networks_)
    if (e.owner == n.owner) {
      e = std::move(n);
      return;
    }
  networks_.push_back(std::move(n));
}

bool network_marker::remove(const std::string& owner) {
  for (auto it = networks_.begin(); it != networks_.end(); ++it)
    if (it->owner == owner) {
      networks_.erase(it);
      return true;
    }
  return false;
}

}  // namespace overlayd::ipc
