#!/usr/bin/env bash
# Builds overlayd_*.deb and liboverlayd-dev_*.deb from this tree with Debian's
# own tools (dpkg-buildpackage -b, debhelper, dh's meson build system) and
# prints the paths of the two .debs.
#
#   scripts/build-deb.sh [--if-changed] [OUT_DIR]      (OUT_DIR: ./build-deb)
#
# What is packaged: the tracked files as they are in the working tree (HEAD
# plus `git diff HEAD`; untracked files are left out), copied to
# build-deb/src/overlayd-<version>/ and built there. Everything the build
# writes stays under build-deb/ (the .debs, .buildinfo and .changes land in
# build-deb/src/, as dpkg-buildpackage puts them beside the source); only the
# .debs are copied to OUT_DIR, with OUT_DIR/overlayd-debs.key naming the tree
# they came from. Nothing is installed and no root is needed.
#
# --if-changed: when OUT_DIR already holds .debs built from the same tree
# (same key), print them and build nothing.
#
# Speed: the package build compiles only the packaged targets (debian/rules)
# with two jobs, through ccache when it is installed (the cache is the
# caller's usual one; debhelper moves HOME during the build, so its location
# and configuration are passed explicitly). No compile line holds the build
# path (debian/rules), so an unchanged file is a cache hit even when built in
# another checkout. DEB_BUILD_OPTIONS defaults to "nocheck noautodbgsym
# parallel=2".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if_changed=0
[ "${1:-}" = --if-changed ] && { if_changed=1; shift; }
out=${1:-$root/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$root/build-deb
mkdir -p "$work"

# One build at a time per tree: the copy's path is fixed.
exec 9> "$work/.lock"
flock 9

version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
upstream=${version%-*}
# The tree's identity: HEAD's tree, plus a digest of uncommitted changes to
# tracked files (binary diff, so any change to any tracked file counts).
key=$(git -C "$root" rev-parse 'HEAD^{tree}')
if ! git -C "$root" diff --quiet HEAD --; then
  key="$key+$(git -C "$root" diff --binary HEAD -- | sha256sum | cut -c1-16)"
fi
key="$version $key"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
debs=("$out/overlayd_${version}_$arch.deb" "$out/liboverlayd-dev_${version}_$arch.deb")
if [ "$if_changed" = 1 ] && [ -f "$out/overlayd-debs.key" ] && [ "$(cat "$out/overlayd-debs.key")" = "$key" ] &&
   [ -f "${debs[0]}" ] && [ -f "${debs[1]}" ]; then
  echo "reusing .debs built from this tree ($key)" >&2
  printf '%s\n' "${debs[@]}"
  exit 0
fi

# A fresh copy (a source package has no build dirs), always at the same path.
src=$work/src/overlayd-$upstream
rm -rf "$work/src"
mkdir -p "$src"
git -C "$root" archive --format=tar HEAD | tar -x -C "$src"
if ! git -C "$root" diff --quiet HEAD --; then
  # Outside any repository (ceiling), git apply patches plain files.
  git -C "$root" diff --binary HEAD -- |
    (cd "$src" && GIT_CEILING_DIRECTORIES=$work/src git apply --whitespace=nowarn -)
fi

if command -v ccache > /dev/null; then
  export CCACHE_DIR=${CCACHE_DIR:-$(ccache -k cache_dir)}
  # The configuration file in use (base_dir, max_size...), e.g. ~/.config/ccache/ccache.conf.
  conf=$(ccache -p | sed -n 's/^(\(\/[^)]*\)) .*/\1/p' | head -n 1)
  [ -n "$conf" ] && export CCACHE_CONFIGPATH=${CCACHE_CONFIGPATH:-$conf}
  export CC="ccache gcc" CXX="ccache g++"
fi
# No -dbgsym package by default: dwz and packing 40 MB of debug info take
# minutes. DEB_BUILD_OPTIONS="nocheck parallel=2" builds it.
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck noautodbgsym parallel=2}
# Debian's python3 for meson's scripts (not a pyenv shim ahead of it).
export PATH=/usr/bin:$PATH
log=$work/build.log
start=$SECONDS
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) > "$log" 2>&1; then
  tail -n 40 "$log"
  echo "dpkg-buildpackage failed; whole log: $log" >&2
  exit 1
fi
echo "dpkg-buildpackage took $((SECONDS - start))s (log: $log)" >&2
rm -f "$out/overlayd-debs.key"
for d in "${debs[@]}"; do cp "$work/src/$(basename "$d")" "$d"; done
echo "$key" > "$out/overlayd-debs.key"
printf '%s\n' "${debs[@]}"
