// An owned libnftables context: runs nft commands given as text (the same
// language as `nft -f`), captures output and errors into strings. A batch
// of commands given in one run() is one kernel transaction: all or nothing.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

struct nft_ctx;

namespace overlayd::firewall {

class nft_context {
 public:
  static result<nft_context> open();

  nft_context(nft_context&& o) noexcept;
  nft_context& operator=(nft_context&& o) noexcept;
  nft_context(const nft_context&) = delete;
  nft_context& operator=(const nft_context&) = delete;
  ~nft_context();

  // Runs `commands`; returns what nft printed. `json` switches the output
  // format (for list commands). Failure: errc::system with nft's message.
  result<std::string> run(std::string_view commands, bool json = false);

 private:
  explicit nft_context(nft_ctx* c) : ctx_(c) {}
  nft_ctx* ctx_ = nullptr;
};

}  // namespace overlayd::firewall
