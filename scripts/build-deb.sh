#!/usr/bin/env bash
# Builds overlayd_*.deb and liboverlayd-dev_*.deb from this tree with Debian's
# own tools (dpkg-buildpackage, debhelper, dh's meson build system), into
# ../ of a temporary copy; prints the paths of the .debs it made.
#   scripts/build-deb.sh [OUT_DIR]    (default: ./dist-deb)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist-deb}
work=$(mktemp -d /tmp/overlayd-deb.XXXX)
trap 'rm -rf "$work"' EXIT
# A clean copy of the tracked tree (no build dirs), as a source package has.
git -C "$root" archive --format=tar --prefix=overlayd-0.1.0/ HEAD | tar -x -C "$work"
(cd "$work/overlayd-0.1.0" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -b -us -uc > "$work/build.log" 2>&1) ||
  { tail -n 40 "$work/build.log"; exit 1; }
mkdir -p "$out"
cp "$work"/*.deb "$out"/
ls -1 "$out"/*.deb
