// The web view's static files (web/), compiled into the daemon by
// scripts/embed_files.py, so it needs no CDN and no build step online.
#pragma once

#include <span>
#include <string_view>

namespace overlayd::ipc {

struct web_asset {
  std::string_view path;  // relative to web/, e.g. "index.html"
  std::string_view content_type;
  std::string_view body;
};

std::span<const web_asset> web_assets();

}  // namespace overlayd::ipc
