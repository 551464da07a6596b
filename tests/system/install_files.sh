#!/usr/bin/env bash
# `meson install` into a DESTDIR, as a packager would, then:
#   - both programs, the systemd unit, the tmpfiles.d entry, the man pages,
#     bash completion, the embedding library, its headers and pkg-config file
#     are where they belong;
#   - `systemd-analyze verify` accepts the unit (and the unit names the
#     contract's socket, /var/lib/zlayer and a capability bounding set);
#   - both man pages render;
#   - examples/embed builds against the DESTDIR install with nothing but
#     pkg-config, runs an engine in-process, and its answers and trace are
#     right.
# Files go under a temp dir; the example's engine runs in a network
# namespace of its own, so nothing on the host changes.
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
root=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$root/build}
tmp=$(mktemp -d /tmp/overlayd-install.XXXX)
N=ovlin$$
trap 'ip netns del "$N" 2>/dev/null || true; rm -rf "$tmp"' EXIT
D=$tmp/dest
meson install -C "$BUILD_DIR" --destdir "$D" --no-rebuild --quiet > "$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; exit 1; }
prefix=$(meson introspect "$BUILD_DIR" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
P=$D$prefix
for f in bin/overlayd bin/overlayctl lib/systemd/system/overlayd.service lib/tmpfiles.d/overlayd.conf \
         share/man/man8/overlayd.8 share/man/man8/overlayctl.8 share/bash-completion/completions/overlayctl \
         include/overlayd/ipc/engine.hpp include/overlayd/core/error.hpp; do
  [ -e "$P/$f" ] || { echo "missing: $prefix/$f"; find "$D" -type f | sort; exit 1; }
done
lib=$(find "$P" -name liboverlayd.a | head -1); [ -n "$lib" ]
pc=$(find "$P" -name overlayd.pc | head -1); [ -n "$pc" ]
"$P/bin/overlayd" --version | grep -q '^overlayd '

# The unit: verified by systemd itself, against the installed tree.
unit=$P/lib/systemd/system/overlayd.service
grep -q "^ExecStart=$prefix/bin/overlayd " "$unit"
grep -q -- "--socket /var/run/zlayer-overlayd.sock" "$unit"
grep -q "^StateDirectory=zlayer$" "$unit"
grep -q "^CapabilityBoundingSet=CAP_NET_ADMIN" "$unit"
grep -q "^Type=notify$" "$unit"
# The same unit with ExecStart at the DESTDIR copy (verify checks the binary
# exists) and the man pages found there (it checks Documentation= too).
mkdir -p "$tmp/units"
sed "s|^ExecStart=$prefix/bin/|ExecStart=$P/bin/|" "$unit" > "$tmp/units/overlayd.service"
MANPATH=$P/share/man SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$tmp/units/overlayd.service" \
  > "$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log"; exit 1; }
if grep -v "^$" "$tmp/verify.log" | grep -q .; then echo "systemd-analyze verify said:"; cat "$tmp/verify.log"; exit 1; fi

# The man pages render (man -l reads a file; warnings from groff fail).
for m in overlayd overlayctl; do
  MANWIDTH=80 man -l "$P/share/man/man8/$m.8" > "$tmp/$m.txt" 2> "$tmp/$m.err"
  [ ! -s "$tmp/$m.err" ] || { echo "man $m:"; cat "$tmp/$m.err"; exit 1; }
  grep -q "SYNOPSIS" "$tmp/$m.txt"
done
grep -q "EXIT STATUS" "$tmp/overlayctl.txt"

# The embedding example, built with pkg-config only.
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$D
flags=$(pkg-config --cflags --libs --static overlayd)
c++ -O1 -o "$tmp/embed" "$root/examples/embed/main.cpp" $flags
ip netns add "$N"
ip netns exec "$N" "$tmp/embed" "$tmp/embed-data" > "$tmp/embed.out" 2> "$tmp/embed.err" || { cat "$tmp/embed.err"; exit 1; }
cat "$tmp/embed.out"
grep -q '^set_local_node_id -> {"result":"ok"}$' "$tmp/embed.out"
grep -qE '^allocate_ip -> \{"result":"ip","ip":"10\.200\.0\.2"\}$' "$tmp/embed.out"
grep -q '^status -> {"result":"status"' "$tmp/embed.out"
# The trace holds the allocate_ip request's hops: gateway, then allocator.
grep -qE '^trace #[0-9]+ correlation [0-9]+: gateway -> allocator$' "$tmp/embed.out"
echo "installed tree, unit, man pages and embedding all check out"
