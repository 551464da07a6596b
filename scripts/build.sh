#!/usr/bin/env bash
# Configures (once) and builds an optimized tree.   scripts/build.sh [BUILD_DIR] [meson options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --wrap-mode=nodownload "$@"
fi
ninja -C "$dir"
