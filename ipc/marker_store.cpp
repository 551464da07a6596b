#include "ipc/marker_store.hpp"

#include <spdlog/spdlog.h>

#include "core/atomic_file.hpp"

namespace overlayd::ipc {

result<network_marker> marker_store::load_locked() {
  auto text = read_file_nofollow(path_);
  if (!text) {
    if (text.err().code == errc::not_found) return network_marker{};
    return error(text.err().code, "network marker unreadable, not touching it: " + text.err().message);
  }
  std::string why;
  auto m = network_marker::parse(*text, &why);
  if (why.empty()) return m;
  auto aside = quarantine_file(path_);
  if (!aside)
    return error(errc::protocol, path_ + ": " + why + "; and it could not be moved aside: " + aside.err().message);
  spdlog::error("network marker {} does not parse ({}); kept as {}, starting from an empty marker", path_,
                why, *aside);
  if (on_quarantine_) on_quarantine_(path_, *aside, why);
  return network_marker{};
}

result<network_marker> marker_store::read() {
  std::lock_guard lk(mu_);
  return load_locked();
}

status marker_store::update(const std::function<bool(network_marker&)>& change) {
  std::lock_guard lk(mu_);
  auto m = load_locked();
  if (!m) return std::move(m).err();
  if (!change(*m)) return {};
  return m->save(path_);
}

}  // namespace overlayd::ipc
