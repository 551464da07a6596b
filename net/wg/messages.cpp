#include "net/wg/messages.hpp"

namespace overlayd::wg {
namespace {

// The header is a little-endian u32 type: one type byte, three zero bytes.
bool header_is(bytes_view b, message_type t) noexcept {
  return b.size() >= 4 && load_le32(b.data()) == uint32_t(t);
}

template <class M>
result<M> parse_fixed(bytes_view b, message_type t, const char* name) {
  if (b.size() != sizeof(M) || !header_is(b, t))
    return error(errc::protocol, std::string("wireguard ") + name + ": bad length or header");
  M m;
  std::memcpy(&m, b.data(), sizeof m);
  return m;
}

}  // namespace

std::optional<message_type> message_type_of(bytes_view b) noexcept {
  if (b.size() < 4) return std::nullopt;
  switch (load_le32(b.data())) {
    case uint32_t(message_type::initiation):
      if (b.size() == initiation_size) return message_type::initiation;
      break;
    case uint32_t(message_type::response):
      if (b.size() == response_size) return message_type::response;
      break;
    case uint32_t(message_type::cookie_reply):
      if (b.size() == cookie_reply_size) return message_type::cookie_reply;
      break;
    case uint32_t(message_type::transport):
      if (b.size() >= transport_min_size) return message_type::transport;
      break;
    default:
      break;
  }
  return std::nullopt;
}

result<msg_initiation> parse_initiation(bytes_view b) {
  return parse_fixed<msg_initiation>(b, message_type::initiation, "initiation");
}
result<msg_response> parse_response(bytes_view b) {
  return parse_fixed<msg_response>(b, message_type::response, "response");
}
result<msg_cookie_reply> parse_cookie_reply(bytes_view b) {
  return parse_fixed<msg_cookie_reply>(b, message_type::cookie_reply, "cookie reply");
}

result<transport_view> parse_transport(bytes_view b) {
  if (b.size() < transport_min_size || !header_is(b, message_type::transport))
    return error(errc::protocol, "wireguard transport: bad length or header");
  transport_view v;
  v.receiver = load_le32(b.data() + 4);
  v.counter = load_le64(b.data() + 8);
  v.ciphertext = b.subspan(transport_header_size);
  return v;
}

void set_type(uint8_t (&type)[4], message_type t) noexcept { store_le32(type, uint32_t(t)); }

void write_transport_header(uint8_t* out, uint32_t receiver, uint64_t counter) noexcept {
  store_le32(out, uint32_t(message_type::transport));
  store_le32(out + 4, receiver);
  store_le64(out + 8, counter);
}

size_t padding_for(size_t len, size_t mtu) noexcept {
  if (len == 0) return 0;
  size_t padded = (len + transport_padding - 1) / transport_padding * transport_padding;
  if (padded > mtu) padded = mtu > len ? mtu : len;
  return padded - len;
}

}  // namespace overlayd::wg
