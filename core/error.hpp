// The one error type of overlayd, and `result<T>`, the expected-style return
// every fallible function uses. Exceptions never cross a module boundary:
// third-party throws are caught at the edge (ipc/, net/) and become an error.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace overlayd {

// What kind of failure; callers branch on this, people read `message`.
enum class errc {
  invalid_argument,  // the caller sent something malformed (bad CIDR, key...)
  not_found,         // the object named does not exist
  already_exists,    // the object exists and the operation cannot reuse it
  exhausted,         // a pool, band or bounded collection is full
  not_supported,     // not on this platform / in this mode
  not_implemented,   // a capability that has not landed yet
  precondition,      // a prerequisite is missing ("global overlay not set up")
  system,            // a syscall or the kernel said no (see sys_errno)
  protocol,          // a peer or file broke the protocol/format
  timeout,           // a bounded wait ran out
  internal,          // a bug: an invariant did not hold
};

std::string_view to_string(errc code) noexcept;

struct error {
  errc code = errc::internal;
  std::string message;  // plain English naming the object and the cause
  int sys_errno = 0;    // errno when code == errc::system, else 0

  error() = default;
  error(errc c, std::string msg, int e = 0) : code(c), message(std::move(msg)), sys_errno(e) {}
};

// Builds an errc::system error "<op> <object>: <strerror(err)>".
error system_error(std::string_view op, std::string_view object, int err);

// A value or an error. Minimal on purpose: C++20 has no std::expected.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  result(error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const error& err() const& { return std::get<1>(v_); }
  error&& err() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const error& err() const& { return e_; }
  error&& err() && { return std::move(e_); }

 private:
  error e_;
  bool ok_ = true;
};

using status = result<void>;

// Propagate an error from an expression returning result<...>.
#define OVERLAYD_TRY(expr)                    \
  do {                                        \
    auto overlayd_try_r_ = (expr);            \
    if (!overlayd_try_r_) return std::move(overlayd_try_r_).err(); \
  } while (0)

}  // namespace overlayd
