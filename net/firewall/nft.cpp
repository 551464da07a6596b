#include "net/firewall/nft.hpp"

#include <nftables/libnftables.h>

#include <utility>

namespace overlayd::firewall {

result<nft_context> nft_context::open() {
  nft_ctx* c = nft_ctx_new(NFT_CTX_DEFAULT);
  if (c == nullptr) return error(errc::system, "nft_ctx_new failed");
  if (nft_ctx_buffer_output(c) != 0 || nft_ctx_buffer_error(c) != 0) {
    nft_ctx_free(c);
    return error(errc::system, "nft: cannot buffer output");
  }
  return nft_context(c);
}

nft_context::nft_context(nft_context&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}

nft_context& nft_context::operator=(nft_context&& o) noexcept {
  if (this != &o) {
    if (ctx_ != nullptr) nft_ctx_free(ctx_);
    ctx_ = std::exchange(o.ctx_, nullptr);
  }
  return *this;
}

nft_context::~nft_context() {
  if (ctx_ != nullptr) nft_ctx_free(ctx_);
}

result<std::string> nft_context::run(std::string_view commands, bool json) {
  if (ctx_ == nullptr) return error(errc::internal, "nft context used after move");
  unsigned flags = nft_ctx_output_get_flags(ctx_);
  flags = json ? (flags | NFT_CTX_OUTPUT_JSON) : (flags & ~NFT_CTX_OUTPUT_JSON);
  nft_ctx_output_set_flags(ctx_, flags);
  std::string cmd(commands);
  int rc = nft_run_cmd_from_buffer(ctx_, cmd.c_str());
  // The get_*_buffer calls hand back and reset the buffers for the next run.
  std::string out = nft_ctx_get_output_buffer(ctx_);
  std::string err = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return error(errc::system, "nft: " + (err.empty() ? std::string("command failed") : err));
  }
  return out;
}

}  // namespace overlayd::firewall
