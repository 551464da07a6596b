#include "net/host/journal.hpp"

#include <nlohmann/json.hpp>

#include "net/host/files.hpp"

namespace overlayd::host {

namespace {

constexpr int journal_version = 1;

constexpr std::pair<change_kind, std::string_view> kind_names[] = {
    {change_kind::link, "link"},
    {change_kind::address, "address"},
    {change_kind::route, "route"},
    {change_kind::sysctl, "sysctl"},
    {change_kind::file, "file"},
    {change_kind::nft_table, "nft_table"},
    {change_kind::nft_subnet, "nft_subnet"},
    {change_kind::nft_masquerade, "nft_masquerade"},
    {change_kind::nft_member, "nft_member"},
};

}  // namespace

std::string_view to_string(change_kind k) noexcept {
  for (const auto& [kind, name] : kind_names)
    if (kind == k) return name;
  return "unknown";
}

std::optional<change_kind> parse_change_kind(std::string_view s) noexcept {
  for (const auto& [kind, name] : kind_names)
    if (name == s) return kind;
  return std::nullopt;
}

std::string change::param(const std::string& key) const {
  auto it = params.find(key);
  return it == params.end() ? std::string() : it->second;
}

bool change::same_resource(const change& other) const {
  if (kind != other.kind) return false;
  auto strip = [](const std::map<std::string, std::string>& p) {
    auto q = p;
    q.erase("prev");
    return q;
  };
  return strip(params) == strip(other.params);
}

std::string change::describe() const {
  std::string s(to_string(kind));
  for (const auto& [k, v] : params) s += " " + k + "=" + v;
  return s;
}

std::string serialize(const std::vector<change>& changes) {
  nlohmann::json doc;
  doc["version"] = journal_version;
  doc["changes"] = nlohmann::json::array();
  for (const auto& c : changes)
    doc["changes"].push_back({{"kind", to_string(c.kind)}, {"params", c.params}});
  // `replace`: never throws on invalid UTF-8 (mutator only journals ASCII
  // names, so nothing is actually replaced).
  return doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

result<std::vector<change>> deserialize(std::string_view text) {
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  auto bad = [](const std::string& why) { return error(errc::protocol, "host journal: " + why); };
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  auto v = doc.find("version");
  if (v == doc.end() || !v->is_number_integer() || v->get<int64_t>() != journal_version)
    return bad("unsupported version");
  auto list = doc.find("changes");
  if (list == doc.end() || !list->is_array()) return bad("no changes array");
  if (list->size() > max_journal_entries) return bad("too many entries");
  std::vector<change> out;
  for (const auto& item : *list) {
    if (!item.is_object()) return bad("entry is not an object");
    auto k = item.find("kind");
    auto p = item.find("params");
    if (k == item.end() || !k->is_string() || p == item.end() || !p->is_object())
      return bad("entry needs kind and params");
    auto kind = parse_change_kind(k->get_ref<const std::string&>());
    if (!kind) return bad("unknown kind '" + k->get<std::string>() + "'");
    change c;
    c.kind = *kind;
    for (const auto& [key, val] : p->items()) {
      if (!val.is_string()) return bad("param '" + key + "' is not a string");
      c.params[key] = val.get<std::string>();
    }
    out.push_back(std::move(c));
  }
  return out;
}

result<journal> journal::open(const std::string& data_dir) {
  OVERLAYD_TRY(make_dirs(data_dir));
  journal j(data_dir + "/host-journal.json");
  auto text = read_file_nofollow(j.path_);
  if (!text) {
    if (text.err().code == errc::not_found) return j;
    return std::move(text).err();
  }
  auto entries = deserialize(*text);
  if (!entries) return std::move(entries).err();
  j.entries_ = std::move(*entries);
  return j;
}

const change* journal::find(const change& like) const {
  for (const auto& c : entries_)
    if (c.same_resource(like)) return &c;
  return nullptr;
}

status journal::persist() const {
  OVERLAYD_TRY(write_file_atomic(path_, serialize(entries_)));
  if (after_persist_) after_persist_();
  return {};
}

void journal::claim(const change& like) {
  std::erase_if(unclaimed_, [&](const change& c) { return c.same_resource(like); });
}

void journal::claim_device(std::string_view dev) {
  const std::string conf = "." + std::string(dev) + ".";
  std::erase_if(unclaimed_, [&](const change& c) {
    switch (c.kind) {
      case change_kind::link:
        return c.param("name") == dev;
      case change_kind::address:
      case change_kind::route:
        return c.param("dev") == dev;
      case change_kind::sysctl:
        return c.param("key").find(conf) != std::string::npos;
      default:
        return false;
    }
  });
}

status journal::record(change c) {
  claim(c);
  if (find(c) != nullptr) return {};
  if (entries_.size() >= max_journal_entries)
    return error(errc::exhausted, "host journal is full (" + std::to_string(max_journal_entries) + ")");
  entries_.push_back(std::move(c));
  auto st = persist();
  if (!st) entries_.pop_back();  // keep memory and disk in agreement
  return st;
}

status journal::forget(const change& like) {
  claim(like);
  auto before = entries_;
  std::erase_if(entries_, [&](const change& c) { return c.same_resource(like); });
  if (entries_.size() == before.size()) return {};
  auto st = persist();
  if (!st) entries_ = std::move(before);
  return st;
}

status journal::replace(std::vector<change> entries) {
  entries_ = std::move(entries);
  std::erase_if(unclaimed_, [&](const change& u) { return find(u) == nullptr; });
  return persist();
}

}  // namespace overlayd::host
