#include "net/subnet_file.hpp"

#include <algorithm>

#include "net/state_lines.hpp"

namespace overlayd::net {

namespace {
constexpr std::string_view header = "overlayd-service-subnets 1";
constexpr std::string_view cluster_tag = "cluster ";
}  // namespace

std::string format_subnet_file(const subnet_file& f) {
  std::string out(header);
  out += '\n';
  out += cluster_tag;
  out += f.cluster.to_string();
  out += '\n';
  for (const auto& r : f.records) out += r.subnet.to_string() + '\t' + r.node + '\t' + r.service + '\n';
  return out;
}

result<subnet_file> parse_subnet_file(std::string_view text) {
  subnet_file f;
  size_t lineno = 0;
  auto bad = [&](std::string_view why) {
    return error(errc::protocol, "service_subnets line " + std::to_string(lineno) + ": " + std::string(why));
  };
  const auto lines = split_state_lines(text);
  if (!lines) {
    lineno = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    return bad("unterminated line (a torn write?)");
  }
  for (std::string_view line : *lines) {
    ++lineno;
    if (lineno == 1) {
      if (line != header) return bad("not an overlayd service-subnet file");
      continue;
    }
    if (lineno == 2) {
      if (line.substr(0, cluster_tag.size()) != cluster_tag) return bad("expected 'cluster <cidr>'");
      auto c = cidr::parse(line.substr(cluster_tag.size()));
      if (!c) return bad(c.err().message);
      f.cluster = *c;
      continue;
    }
    const size_t t1 = line.find('\t');
    const size_t t2 = t1 == std::string_view::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string_view::npos) return bad("expected '<subnet> TAB <node> TAB <service>'");
    auto s = cidr::parse(line.substr(0, t1));
    if (!s) return bad(s.err().message);
    subnet_record r{std::string(line.substr(t2 + 1)), std::string(line.substr(t1 + 1, t2 - t1 - 1)), *s};
    if (r.service.empty()) return bad("empty service");
    f.records.push_back(std::move(r));
  }
  if (lineno < 2) return bad("missing header or cluster line");
  return f;
}

}  // namespace overlayd::net
