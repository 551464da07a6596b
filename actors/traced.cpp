#include "actors/traced.hpp"

#include <caf/atom.hpp>
#include <caf/type_erased_tuple.hpp>

#include <concepts>
#include <type_traits>

#include "actors/messages.hpp"

namespace overlayd::actors::detail {

namespace {
// The service a request names: its `service` field, or the service its peer
// scope names. Requests that name none (status, release_ip, detach_container,
// a global-scoped peer op...) give nullptr.
const std::string* service_named(const ipc::request& req) {
  return std::visit(
      [](const auto& m) -> const std::string* {
        using T = std::decay_t<decltype(m)>;
        if constexpr (requires { requires std::same_as<decltype(T::service), std::string>; })
          return &m.service;
        else if constexpr (requires { requires std::same_as<decltype(T::scope), ipc::peer_scope>; })
          return m.scope.service ? &*m.scope.service : nullptr;
        else
          return nullptr;
      },
      req);
}

void note_request(const ipc::request& req, trace_record& r) {
  r.op_index = static_cast<int>(req.index());
  if (const std::string* s = service_named(req); s && r.service.empty()) r.service = *s;
}
}  // namespace

void describe(const caf::mailbox_element& x, trace_record& r) {
  const caf::type_erased_tuple& c = x.content();
  const size_t n = c.size();
  for (size_t i = 0; i < n && i < 4; ++i) {
    if (c.match_element<caf::atom_value>(i)) {
      if (r.atom == 0) r.atom = static_cast<uint64_t>(c.get_as<caf::atom_value>(i));
    } else if (c.match_element<correlation_id>(i)) {
      if (r.correlation == 0) r.correlation = c.get_as<correlation_id>(i);
    } else if (c.match_element<ipc::request>(i)) {
      note_request(c.get_as<ipc::request>(i), r);
    } else if (c.match_element<inbound_call>(i)) {
      note_request(c.get_as<inbound_call>(i).request, r);
    } else if (c.match_element<ipc::req::allocate_ip>(i)) {  // the allocator's hop of allocate_ip
      if (r.service.empty()) r.service = c.get_as<ipc::req::allocate_ip>(i).service;
    } else if (c.match_element<ipc::response>(i)) {
      r.result_index = static_cast<int>(c.get_as<ipc::response>(i).index());
    }
  }
}

}  // namespace overlayd::actors::detail
