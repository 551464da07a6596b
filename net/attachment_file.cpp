#include "net/attachment_file.hpp"

#include <algorithm>

#include "net/state_lines.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace overlayd::net {

namespace {
constexpr std::string_view header = "overlayd-attachments 1";
constexpr std::string_view service_tag = "service ";

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t t = line.find('\t');
    out.push_back(line.substr(0, t));
    if (t == std::string_view::npos) return out;
    line.remove_prefix(t + 1);
  }
}
}  // namespace

std::string attachment_file_path(const std::string& data_dir, std::string_view service) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string name;
  name.reserve(service.size() * 2);
  for (unsigned char c : service) {
    name += hex[c >> 4];
    name += hex[c & 15];
  }
  return data_dir + "/" + attachment_dir_name + "/" + name;
}

std::string format_attachment_file(const attachment_file& f) {
  std::string out(header);
  out += '\n';
  out += service_tag;
  out += f.service;
  out += '\n';
  for (const auto& r : f.records) {
    out += std::to_string(r.pid) + '\t' + r.netns + '\t' + r.service_ip.to_string() + '\t' +
           (r.global_ip ? r.global_ip->to_string() : "-") + '\t' + (r.ephemeral ? "1" : "0") + '\t' +
           r.isolation_network.value_or("-") + '\n';
  }
  return out;
}

result<attachment_file> parse_attachment_file(std::string_view text) {
  attachment_file f;
  size_t lineno = 0;
  auto bad = [&](std::string_view why) {
    return error(errc::protocol, "attachments line " + std::to_string(lineno) + ": " + std::string(why));
  };
  const auto lines = split_state_lines(text);
  if (!lines) {
    lineno = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    return bad("unterminated line (a torn write?)");
  }
  for (std::string_view line : *lines) {
    ++lineno;
    if (lineno == 1) {
      if (line != header) return bad("not an overlayd attachments file");
      continue;
    }
    if (lineno == 2) {
      if (!line.starts_with(service_tag) || line.size() == service_tag.size())
        return bad("expected 'service <name>'");
      f.service = std::string(line.substr(service_tag.size()));
      continue;
    }
    const auto fields = split_tabs(line);
    if (fields.size() != 6) return bad("expected 6 tab-separated fields");
    attachment_record r;
    auto [end, ec] = std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), r.pid);
    if (ec != std::errc() || end != fields[0].data() + fields[0].size() || r.pid == 0) return bad("bad pid");
    if (fields[1].empty() || fields[1].find(':') == std::string_view::npos) return bad("bad netns identity");
    r.netns = std::string(fields[1]);
    auto sip = ip_address::parse(fields[2]);
    if (!sip) return bad(sip.err().message);
    r.service_ip = *sip;
    if (fields[3] != "-") {
      auto gip = ip_address::parse(fields[3]);
      if (!gip) return bad(gip.err().message);
      r.global_ip = *gip;
    }
    if (fields[4] != "0" && fields[4] != "1") return bad("ephemeral must be 0 or 1");
    r.ephemeral = fields[4] == "1";
    if (fields[5].empty()) return bad("empty isolation network (use -)");
    if (fields[5] != "-") r.isolation_network = std::string(fields[5]);
    f.records.push_back(std::move(r));
  }
  if (lineno < 2) return bad("missing header or service line");
  return f;
}

result<std::string> netns_identity(uint32_t pid) {
  struct stat st {};
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  if (::stat(path.c_str(), &st) != 0)
    return error(errno == ENOENT ? errc::not_found : errc::system, path + ": " + std::strerror(errno), errno);
  return std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
         std::to_string(static_cast<unsigned long long>(st.st_ino));
}

}  // namespace overlayd::net
