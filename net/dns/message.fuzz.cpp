// libFuzzer target: the DNS message parser and the resolver behind it, the
// trust boundary every UDP/TCP query crosses. Properties checked: no crash,
// no out-of-bounds read (ASan), and parse(serialize(parse(x))) succeeds with
// the same counts — what we write we can read back.
#include <cstdint>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "net/dns/message.hpp"
#include "net/dns/resolver.hpp"

using namespace overlayd::net;
using namespace overlayd::net::dns;

namespace {
const record_table& table() {
  static const std::shared_ptr<const record_table> snap = [] {
    record_store s;
    (void)s.set("web", ip_address::parse("10.0.0.5").value());
    (void)s.add("web", ip_address::parse("fd00::5").value());
    (void)s.set("db.overlay.", ip_address::parse("10.0.0.6").value());
    return s.snapshot();
  }();
  return *snap;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> wire(data, size);
  if (auto m = parse(wire)) {
    auto again = serialize(*m, SIZE_MAX);  // never truncate: compare everything
    auto back = parse(again);
    if (!back || back->questions.size() != m->questions.size() ||
        back->answers.size() != m->answers.size() || back->authority.size() != m->authority.size() ||
        back->additional.size() != m->additional.size() || back->opt.has_value() != m->opt.has_value())
      std::abort();
  }
  resolver_config cfg;
  cfg.domain = name::parse("overlay").value();
  for (auto via : {transport::udp, transport::tcp}) {
    auto d = resolve(wire, table(), cfg, via);
    if (d.act == decision::action::reply) {
      if (via == transport::udp && d.reply.size() > limits::udp_payload_max) std::abort();
      if (!parse(d.reply)) std::abort();  // our replies always parse
    }
  }
  return 0;
}
