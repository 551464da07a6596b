#include "actors/traced.hpp"

#include <caf/atom.hpp>
#include <caf/type_erased_tuple.hpp>

#include "actors/messages.hpp"

namespace overlayd::actors::detail {

void describe(const caf::mailbox_element& x, trace_record& r) {
  const caf::type_erased_tuple& c = x.content();
  const size_t n = c.size();
  for (size_t i = 0; i < n && i < 4; ++i) {
    if (c.match_element<caf::atom_value>(i)) {
      if (r.atom == 0) r.atom = static_cast<uint64_t>(c.get_as<caf::atom_value>(i));
    } else if (c.match_element<correlation_id>(i)) {
      if (r.correlation == 0) r.correlation = c.get_as<correlation_id>(i);
    } else if (c.match_element<ipc::request>(i)) {
      r.op_index = static_cast<int>(c.get_as<ipc::request>(i).index());
    } else if (c.match_element<inbound_call>(i)) {
      r.op_index = static_cast<int>(c.get_as<inbound_call>(i).request.index());
    } else if (c.match_element<ipc::response>(i)) {
      r.result_index = static_cast<int>(c.get_as<ipc::response>(i).index());
    }
  }
}

}  // namespace overlayd::actors::detail
