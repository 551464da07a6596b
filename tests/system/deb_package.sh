#!/usr/bin/env bash
# The .debs, as Debian's own tools build them (scripts/build-deb.sh:
# dpkg-buildpackage -b with dh's meson build system), checked without
# installing anything on the host:
#   - debian/control's Build-Depends are the build packages of
#     scripts/apt-packages.txt (less the documented exceptions);
#   - overlayd_*.deb holds the four programs, the systemd unit (under /lib, not
#     enabled or started by its maintainer scripts), the tmpfiles.d entry
#     (created by postinst), both man pages and bash completion, and nothing
#     outside the expected directories;
#   - its Depends name the package of every shared library the programs
#     link, plus iproute2 and nftables, and no -dev package; this host
#     satisfies both packages' Depends;
#   - liboverlayd-dev_*.deb holds the library, headers and pkg-config file,
#     and Depends on the -dev package of every module that file requires;
#   - unpacked with `dpkg -x` into a throwaway root, the programs run
#     (--help, --version) and the man pages render;
#   - the host's dpkg database is as it was.
# The .debs are built once per tree (build-deb/overlayd-debs.key): a second
# run on the same tree reuses them (about 5 s). Otherwise the packaged
# targets compile with Debian's flags through ccache: with a warm cache the
# test takes 1.5 to 2.5 minutes; with an empty one, 14 CPU-minutes (24
# minutes measured on two cores shared with other builds; about 8 expected
# on two idle ones), hence the longer timeout below.
# run_all-timeout: 2400
set -euo pipefail
. "$(dirname "$0")/lib/quiet_grep.bash"
trap 'echo "FAILED at line $LINENO: $BASH_COMMAND"' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
for t in dpkg-buildpackage dh dpkg-deb; do
  command -v "$t" > /dev/null || { echo "$t is not installed (dpkg-dev, debhelper: scripts/apt-packages.txt)"; exit 77; }
done
git -C "$root" rev-parse --git-dir > /dev/null 2>&1 || { echo "not a git checkout: build-deb.sh packages git's tracked files"; exit 77; }
tmp=$(mktemp -d /tmp/overlayd-debtest.XXXX)
trap 'rm -rf "$tmp"' EXIT
dpkg-query -W -f '${Package} ${Version} ${Status}\n' > "$tmp/host-before"

# Build-Depends against scripts/apt-packages.txt's "# Build" section.
# Not needed by the package build: ccache (optional, build-deb.sh uses it),
# doctest-dev (no tests are compiled), cmake (meson finds every dependency
# with pkg-config or find_library).
python3 - "$root/debian/control" "$root/scripts/apt-packages.txt" <<'PY'
import re, sys
control, apt = open(sys.argv[1]).read(), open(sys.argv[2]).read().splitlines()
src = control.split("\n\n")[0]
src = "\n".join(l for l in src.splitlines() if not l.startswith("#"))
bd = re.search(r"^Build-Depends:(.*?)(?=^\S)", src + "\nX:", re.S | re.M).group(1)
deps = {re.split(r"[\s(<\[]", d.strip())[0] for d in bd.split(",") if d.strip()}
deps.discard("debhelper-compat")
build, section = set(), None
for l in apt:
    if l.startswith("#"):
        section = l.lstrip("# ").split()[0] if l.lstrip("# ") else section
        continue
    if l.strip() and section == "Build":
        build.add(l.split("#")[0].strip())
allowed_missing = {"ccache", "doctest-dev", "cmake"}
assert deps - build == set(), f"Build-Depends not in apt-packages.txt's Build section: {deps - build}"
assert build - deps == allowed_missing, f"apt-packages.txt's Build section vs Build-Depends: {sorted(build - deps)}"
print("Build-Depends:", " ".join(sorted(deps)))
PY

start=$SECONDS
bash "$root/scripts/build-deb.sh" --if-changed > "$tmp/debs" 2> "$tmp/build-deb.err" ||
  { cat "$tmp/build-deb.err"; exit 1; }
cat "$tmp/build-deb.err"
echo "build-deb.sh --if-changed: $((SECONDS - start))s"
mapfile -t debs < "$tmp/debs"
deb=${debs[0]} dev=${debs[1]}
[ -f "$deb" ] && [ -f "$dev" ]
case $deb in */overlayd_*.deb) ;; *) echo "unexpected: $deb"; exit 1 ;; esac
case $dev in */liboverlayd-dev_*.deb) ;; *) echo "unexpected: $dev"; exit 1 ;; esac
dpkg-deb -I "$deb" > "$tmp/deb.info"
dpkg-deb -I "$dev" > "$tmp/dev.info"
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' | sort > "$tmp/deb.files"
dpkg-deb -c "$dev" | awk '{print $NF}' | sed 's|^\./|/|' | sort > "$tmp/dev.files"
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# Contents: what each package must hold, and nothing elsewhere.
for f in /usr/bin/overlayd /usr/bin/overlayctl /usr/bin/overlay-relayd /usr/bin/overlay-natprobe /lib/systemd/system/overlayd.service /usr/lib/tmpfiles.d/overlayd.conf \
         /usr/share/man/man8/overlayd.8.gz /usr/share/man/man8/overlayctl.8.gz \
         /usr/share/bash-completion/completions/overlayctl /usr/share/doc/overlayd/copyright; do
  grep -qx -- "$f" "$tmp/deb.files" || { echo "overlayd .deb lacks $f:"; cat "$tmp/deb.files"; exit 1; }
done
for f in /usr/include/overlayd/ipc/engine.hpp /usr/include/overlayd/core/error.hpp /usr/include/overlayd/actors/trace.hpp \
         "/usr/lib/$ma/liboverlayd.a" "/usr/lib/$ma/pkgconfig/overlayd.pc" /usr/share/doc/liboverlayd-dev/copyright; do
  grep -qx -- "$f" "$tmp/dev.files" || { echo "liboverlayd-dev .deb lacks $f:"; cat "$tmp/dev.files"; exit 1; }
done
# The whole manifest of overlayd's files (directories aside).
grep -v '/$' "$tmp/deb.files" | grep -vxE '/usr/bin/(overlayd|overlayctl|overlay-relayd|overlay-natprobe)|/lib/systemd/system/overlayd\.service|/usr/lib/tmpfiles\.d/overlayd\.conf|/usr/share/man/man8/overlay(d|ctl)\.8\.gz|/usr/share/bash-completion/completions/overlayctl|/usr/share/doc/overlayd/(copyright|changelog\.Debian\.gz)' \
  > "$tmp/stray" || true
[ ! -s "$tmp/stray" ] || { echo "overlayd .deb has files in unexpected places:"; cat "$tmp/stray"; exit 1; }
if grep -E '^/usr/local|^/usr/lib/systemd|^/etc/' "$tmp/deb.files" "$tmp/dev.files"; then exit 1; fi
if grep -E '/usr/bin/|\.so' "$tmp/dev.files"; then echo "the -dev package ships programs or shared objects"; exit 1; fi

# Control fields.
grep -qE '^ Package: overlayd$' "$tmp/deb.info"
grep -qE "^ Architecture: $(dpkg-architecture -qDEB_HOST_ARCH)$" "$tmp/deb.info"
grep -qE '^ Section: net$' "$tmp/deb.info"
depends=$(dpkg-deb -f "$deb" Depends)
dev_depends=$(dpkg-deb -f "$dev" Depends)
echo "overlayd Depends: $depends"
echo "liboverlayd-dev Depends: $dev_depends"
shipped_by() {  # DEPENDS, then "what path" lines on stdin: each path's package (or a
               # virtual package it Provides) must be one of DEPENDS' alternatives
  python3 -c '
import os, re, subprocess, sys
named = {re.split(r"[\s(:]", alt.strip())[0] for d in sys.argv[1].split(",") for alt in d.split("|")}
items = [l.split(None, 1) for l in sys.stdin.read().splitlines() if l.strip()]
def spellings(p):  # dpkg knows one spelling of a merged-/usr path
    out = []
    for x in (p, os.path.realpath(p)):
        out += [x, x[4:] if x.startswith("/usr/") else "/usr" + x]
    return out
cands = {what: spellings(path) for what, path in items}
listed = subprocess.run(["dpkg", "-S", *{c for cs in cands.values() for c in cs}],
                        capture_output=True, text=True).stdout  # one scan of the database
owner = {}
for l in listed.splitlines():
    pkgs, _, path = l.rpartition(": ")
    if pkgs and not l.startswith("diversion "):
        owner[path] = pkgs.split(",")[0].strip().split(":")[0]
bad = []
for what, cs in cands.items():
    pkg = next((owner[c] for c in cs if c in owner), None)
    if not pkg:
        bad.append(f"no package ships {cs[0]} ({what})"); continue
    provides = subprocess.run(["dpkg-query", "-W", "-f", "${Provides}", pkg], capture_output=True, text=True).stdout
    names = {pkg} | {re.split(r"[\s(]", p.strip())[0] for p in provides.split(",") if p.strip()}
    print(f"  {what}: {pkg}")
    if not names & named:
        bad.append(f"{what} comes from {pkg}, which Depends does not name")
if bad:
    sys.exit("\n".join(bad))
' "$1"
}
has_dep() {  # "Depends value" package -> 0 when package is one of its alternatives
  tr ',|' '\n\n' <<< "$1" | sed -E 's/^ *//; s/[ (:].*//' | grep -qx -- "$2"
}
for p in libc6 libstdc++6 iproute2 nftables; do has_dep "$depends" "$p" || { echo "Depends lacks $p"; exit 1; }; done
# Both packages are installable here: this host (with apt-packages.txt's
# packages) satisfies their Depends, versions and Provides included.
dpkg-checkbuilddeps -d "$depends" -c "" "$root/debian/control"
dpkg-checkbuilddeps -d "$dev_depends" -c "" "$root/debian/control"
if tr ',|' '\n\n' <<< "$depends" | sed -E 's/^ *//; s/[ (].*//' | grep -E -- '-dev$'; then
  echo "overlayd Depends on -dev packages"; exit 1
fi

# Unpacked into a throwaway root (dpkg -x: no maintainer scripts, no
# database), the programs run from there.
R=$tmp/root
dpkg -x "$deb" "$R"
dpkg -x "$dev" "$R"
# Every shared library the programs link comes from a package they Depend on.
for b in overlayd overlayctl overlay-relayd overlay-natprobe; do
  objdump -p "$R/usr/bin/$b" | awk '$1 == "NEEDED" {print $2}'
done | sort -u > "$tmp/needed"
# (libspdlog1.10's shlibs name libspdlog1.10-fmt9, which it Provides.)
while read -r so; do
  path=$(ldconfig -p | awk -v so="$so" '$1 == so && !p {print $NF; p = 1}')
  [ -n "$path" ] || { echo "the programs need $so, which the host cannot resolve"; exit 1; }
  echo "$so $path"
done < "$tmp/needed" > "$tmp/needed.paths"
echo "linked libraries, by package:"
shipped_by "$depends" < "$tmp/needed.paths"
"$R/usr/bin/overlayd" --help > "$tmp/overlayd.help"
grep -q -- "--data-dir" "$tmp/overlayd.help"
"$R/usr/bin/overlayd" --version | grep -qx "overlayd $(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')"
"$R/usr/bin/overlayctl" --help > "$tmp/overlayctl.help"
grep -q "trace" "$tmp/overlayctl.help"
"$R/usr/bin/overlayctl" trace --help | grep -q -- "--service"
"$R/usr/bin/overlay-relayd" --help | grep -q -- "--listen"
"$R/usr/bin/overlay-natprobe" --help | grep -q "stun"
for m in overlayd overlayctl; do
  MANWIDTH=80 man -l "$R/usr/share/man/man8/$m.8.gz" > "$tmp/$m.txt" 2> "$tmp/$m.err"
  [ ! -s "$tmp/$m.err" ] || { cat "$tmp/$m.err"; exit 1; }
  grep -q SYNOPSIS "$tmp/$m.txt"
done
unit=$R/lib/systemd/system/overlayd.service
grep -qx "ExecStart=/usr/bin/overlayd .*" "$unit"
grep -qx "Type=notify" "$unit"
bash -n "$R/usr/share/bash-completion/completions/overlayctl"

# Maintainer scripts: the tmpfiles entry is applied, the unit is known to
# systemd but neither enabled nor started (the orchestrator or an operator
# starts overlayd), an upgrade leaves a running daemon alone, removal stops it.
dpkg-deb -e "$deb" "$tmp/control"
grep -q "systemd-tmpfiles .*--create overlayd.conf" "$tmp/control/postinst"
for s in preinst postinst; do
  # No start, restart or stop at install or upgrade...
  [ ! -e "$tmp/control/$s" ] || ! grep -n "deb-systemd-invoke" "$tmp/control/$s"
done
# ...and an enable only where the admin had enabled it before (re-creating links).
python3 - "$tmp/control/postinst" <<'PY'
import sys
lines = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.strip().startswith("#")]
for i, l in enumerate(lines):
    if l.startswith("deb-systemd-helper enable"):
        assert "was-enabled" in lines[i - 1], f"postinst enables the unit unconditionally: {l}"
PY
grep -q "deb-systemd-invoke stop overlayd.service" "$tmp/control/prerm"  # on remove
sh -n "$tmp/control/prerm"

# The -dev package: each pkg-config module overlayd.pc requires is provided
# by a package liboverlayd-dev Depends on; the library links nothing else in.
pc=$R/usr/lib/$ma/pkgconfig/overlayd.pc
grep -qx "prefix=/usr" "$pc"
for m in $(sed -n 's/^Requires\(\.private\)\?: *//p' "$pc" | tr ',' ' '); do
  echo "$m.pc $(pkg-config --variable=pcfiledir "$m")/$m.pc"
done > "$tmp/requires"
echo "overlayd.pc's modules, by package:"
shipped_by "$dev_depends" < "$tmp/requires"
has_dep "$dev_depends" libcaf-dev  # -lcaf_core -lcaf_io
PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$R pkg-config --cflags --libs --static overlayd > /dev/null

dpkg-query -W -f '${Package} ${Version} ${Status}\n' > "$tmp/host-after"
cmp -s "$tmp/host-before" "$tmp/host-after" || { echo "the host's package database changed"; diff "$tmp/host-before" "$tmp/host-after"; exit 1; }
echo "$(basename "$deb") and $(basename "$dev"): contents, Depends, maintainer scripts, and the unpacked programs check out ($((SECONDS))s)"
