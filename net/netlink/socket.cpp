#include "net/netlink/socket.hpp"

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "net/netlink/limits.hpp"

namespace overlayd::netlink {

// ---- request --------------------------------------------------------------

request::request(uint16_t type, uint16_t flags)
    : buf_(limits::request_bytes / sizeof(uint64_t), 0) {
  nlmsghdr* h = mnl_nlmsg_put_header(buf_.data());
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
}

nlmsghdr* request::header() noexcept { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
const nlmsghdr* request::header() const noexcept {
  return reinterpret_cast<const nlmsghdr*>(buf_.data());
}
size_t request::size() const noexcept { return header()->nlmsg_len; }

// Requests are small and bounded (a name, a few addresses); the buffer is
// sized for the largest (a veth pair with two names), so the *_check
// variants never fail for our builders. We still use them so a bug shows
// up as a short message the kernel rejects, not as memory corruption.
void request::put_u32(uint16_t type, uint32_t v) {
  mnl_attr_put_u32_check(header(), limits::request_bytes, type, v);
}
void request::put_u8(uint16_t type, uint8_t v) {
  mnl_attr_put_u8_check(header(), limits::request_bytes, type, v);
}
void request::put_str(uint16_t type, std::string_view s) {
  // NUL-terminated, as the kernel's nla_strscpy expects for names.
  std::string z(s);
  mnl_attr_put_strz_check(header(), limits::request_bytes, type, z.c_str());
}
void request::put_bytes(uint16_t type, const void* data, size_t len) {
  mnl_attr_put_check(header(), limits::request_bytes, type, len, data);
}
void* request::begin_nest(uint16_t type) {
  return mnl_attr_nest_start_check(header(), limits::request_bytes, type);
}
void request::end_nest(void* nest) {
  if (nest != nullptr) mnl_attr_nest_end(header(), static_cast<nlattr*>(nest));
}
void* request::put_extra(size_t len) { return mnl_nlmsg_put_extra_header(header(), len); }

// ---- socket ---------------------------------------------------------------

socket::socket(mnl_socket* s)
    : sock_(s), portid_(mnl_socket_get_portid(s)), rx_(new char[limits::receive_bytes]) {
  seq_ = static_cast<uint32_t>(time(nullptr));
}

socket::socket(socket&& o) noexcept
    : sock_(std::exchange(o.sock_, nullptr)),
      portid_(o.portid_),
      seq_(o.seq_),
      stale_(o.stale_),
      rx_(std::move(o.rx_)) {}

socket& socket::operator=(socket&& o) noexcept {
  if (this != &o) {
    if (sock_ != nullptr) mnl_socket_close(sock_);
    sock_ = std::exchange(o.sock_, nullptr);
    portid_ = o.portid_;
    seq_ = o.seq_;
    stale_ = o.stale_;
    rx_ = std::move(o.rx_);
  }
  return *this;
}

socket::~socket() {
  if (sock_ != nullptr) mnl_socket_close(sock_);
}

result<socket> socket::open() {
  mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (s == nullptr) return system_error("open", "rtnetlink socket", errno);
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(s);
    return system_error("bind", "rtnetlink socket", e);
  }
  int fd = mnl_socket_get_fd(s);
  // Extended acks: the kernel explains EINVAL/EOPNOTSUPP in words.
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  // Bounded waits: a kernel answer never takes seconds; a missing one must
  // not hang an actor forever.
  timeval tv{};
  tv.tv_sec = limits::reply_timeout.count();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return socket(s);
}

namespace {

struct run_ctx {
  const message_handler* on_message;
  std::string ext_ack;       // NLMSGERR_ATTR_MSG of the error, if any
  bool interrupted = false;  // a dump part carried NLM_F_DUMP_INTR
};

int data_cb(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<run_ctx*>(data);
  if ((nlh->nlmsg_flags & NLM_F_DUMP_INTR) != 0) ctx->interrupted = true;
  if (ctx->on_message != nullptr && *ctx->on_message) (*ctx->on_message)(nlh);
  return MNL_CB_OK;
}

// Pulls the extended-ack message out of an NLMSG_ERROR so errors read
// "create bridge zl-x: Operation not supported (Unknown device type)".
std::string ext_ack_text(const nlmsghdr* nlh) {
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return {};
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  size_t off = sizeof(nlmsgerr);
  if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) off += err->msg.nlmsg_len - sizeof(nlmsghdr);
  std::string text;
  mnl_attr_parse(
      nlh, static_cast<unsigned>(off),
      [](const nlattr* attr, void* out) -> int {
        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
          *static_cast<std::string*>(out) = mnl_attr_get_str(attr);
        return MNL_CB_OK;
      },
      &text);
  return text;
}

int error_cb(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<run_ctx*>(data);
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
    errno = EBADMSG;
    return MNL_CB_ERROR;
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  ctx->ext_ack = ext_ack_text(nlh);
  if (err->error < 0) {
    errno = -err->error;
    return MNL_CB_ERROR;
  }
  return MNL_CB_STOP;  // error == 0 is the ACK
}

// End of a dump. Its payload is an int: negative when the dump itself
// failed part-way (e.g. the namespace went away).
int done_cb(const nlmsghdr* nlh, void*) {
  if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
    int rc = *static_cast<const int*>(mnl_nlmsg_get_payload(nlh));
    if (rc < 0) {
      errno = -rc;
      return MNL_CB_ERROR;
    }
  }
  return MNL_CB_STOP;
}

int noop_cb(const nlmsghdr*, void*) { return MNL_CB_OK; }

int overrun_cb(const nlmsghdr*, void*) {
  errno = ENOSPC;
  return MNL_CB_ERROR;
}

}  // namespace

void socket::drain() {
  for (size_t i = 0; i < limits::max_reply_parts; ++i) {
    if (::recv(mnl_socket_get_fd(sock_), rx_.get(), limits::receive_bytes, MSG_DONTWAIT) < 0) break;
  }
  stale_ = false;
}

status socket::exchange(request& req, std::string_view op, std::string_view object,
                        const message_handler& on_message) {
  if (sock_ == nullptr) return error(errc::internal, "netlink socket used after move");
  if (stale_) drain();
  nlmsghdr* h = req.header();
  h->nlmsg_seq = ++seq_;
  h->nlmsg_pid = 0;
  if (mnl_socket_sendto(sock_, h, h->nlmsg_len) < 0) return system_error(op, object, errno);

  // Control messages: ERROR is an ack or a failure, DONE ends a dump.
  mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
  ctl[NLMSG_NOOP] = noop_cb;
  ctl[NLMSG_ERROR] = error_cb;
  ctl[NLMSG_DONE] = done_cb;
  ctl[NLMSG_OVERRUN] = overrun_cb;
  run_ctx ctx{&on_message, {}};
  for (size_t parts = 0; parts < limits::max_reply_parts; ++parts) {
    ssize_t n = mnl_socket_recvfrom(sock_, rx_.get(), limits::receive_bytes);
    if (n < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        stale_ = true;  // a late answer may still arrive: drop it next time
        return error(errc::timeout, std::string(op) + " " + std::string(object) +
                                        ": no answer from the kernel");
      }
      return system_error(op, object, e);
    }
    errno = 0;
    int r = mnl_cb_run2(rx_.get(), static_cast<size_t>(n), h->nlmsg_seq, portid_, data_cb,
                        &ctx, ctl, NLMSG_MIN_TYPE);
    if (r == MNL_CB_ERROR) {
      int e = errno != 0 ? errno : EPROTO;
      error out = system_error(op, object, e);
      if (!ctx.ext_ack.empty()) out.message += " (" + ctx.ext_ack + ")";
      return out;
    }
    if (r == MNL_CB_STOP) {
      // The table changed while the kernel walked it: the listing may
      // miss or repeat entries. The caller starts over (see dump_stable).
      if (ctx.interrupted) return system_error(op, object, EINTR);
      return {};
    }
  }
  return error(errc::exhausted, std::string(op) + ": reply longer than " +
                                    std::to_string(limits::max_reply_parts) + " parts");
}

status socket::transact(request& req, std::string_view op, std::string_view object,
                        const message_handler& on_message) {
  req.header()->nlmsg_flags |= NLM_F_ACK;
  return exchange(req, op, object, on_message);
}

status socket::dump(request& req, std::string_view op, const message_handler& on_message) {
  req.header()->nlmsg_flags |= NLM_F_DUMP;
  return exchange(req, op, "(dump)", on_message);
}

status socket::dump_stable(request& req, std::string_view op, const std::function<void()>& reset,
                           const message_handler& on_message) {
  status st;
  for (int attempt = 0; attempt < limits::dump_attempts; ++attempt) {
    if (reset) reset();
    st = dump(req, op, on_message);
    if (st || st.err().sys_errno != EINTR) return st;
  }
  return st;
}

}  // namespace overlayd::netlink
