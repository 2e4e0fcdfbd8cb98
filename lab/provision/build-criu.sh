#!/usr/bin/env bash
# Builds CRIU from the newest source package of this machine's own distribution mirror (Debian
# unstable, or Ubuntu's development series) and installs the binary as /usr/local/sbin/criu.
# Called by lab/provision.sh when no CRIU >= 4.2 that passes the TCP self-check is installed.
#
# The source index of that suite is needed only to download the source: its deb-src line
# (/etc/apt/sources.list.d/p4containerflow-criu-src.list) is removed again right after, with
# another apt-get update, and the build directory once CRIU is installed. What it changes on the
# machine it reports in lines "changed: …" (and each package it installs in "package: <name>"),
# which lab/provision.sh lists at its end and records for `lab/provision.sh --undo`.
set -euo pipefail
. /etc/os-release
info() { printf '    %s\n' "$*"; }
die() { printf 'build-criu: %s\n' "$*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

# The mirror this machine already uses for its main archive, read from its apt sources.
mirror=$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{print $2}';
  grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}') |
  grep -E "/(debian|ubuntu)/?$" | grep -v -- '-security' | head -1 || true)
[ -n "$mirror" ] || die "found no Debian/Ubuntu mirror in /etc/apt/sources*: add your distribution's archive first"
case "$ID" in
  debian) suite=unstable; components=main ;;
  ubuntu) suite=devel; components="main universe" ;;
  *) die "unsupported distribution $ID" ;;
esac

work=/var/cache/p4containerflow/criu-src
src_list=/etc/apt/sources.list.d/p4containerflow-criu-src.list
line="deb-src $mirror $suite $components"
remove_src_list() {
  if [ -f "$src_list" ]; then
    rm -f "$src_list"
    info "apt-get update (the $suite source index is not needed any more)"
    apt-get update -qq -o DPkg::Lock::Timeout=300 || info "apt-get update failed; harmless, run it again later"
  fi
}
# Whatever happens, neither the source line nor the build directory stay.
trap 'remove_src_list; rm -rf "$work"; rmdir "${work%/*}" 2>/dev/null || true' EXIT

echo "$line" >"$src_list"
# Only source indexes come from that suite, so nothing installed changes release.
info "apt-get update (adds $suite source index, for as long as the download takes)"
apt-get update -qq -o DPkg::Lock::Timeout=300

deps="build-essential pkg-config python3 libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler
  protobuf-compiler python3-protobuf libnl-3-dev libcap-dev libnet1-dev libaio-dev libgnutls28-dev
  libbsd-dev libnftables-dev uuid-dev libdrm-dev"
missing=""
for p in $deps; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  info "installing CRIU build dependencies:$missing"
  # shellcheck disable=SC2086
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends $missing >/dev/null
  for p in $missing; do echo "package: $p"; done
  echo "changed: installed CRIU's build dependencies:$missing"
fi

rm -rf "$work"
mkdir -p "$work"
cd "$work"
info "downloading the criu source package ($suite)"
# Only the upstream (orig) tarball is needed: `make criu` builds it as released. Mirrors sometimes
# lack the packaging tarball of a fresh upload, so a partial download is accepted.
apt-get source -qq --download-only criu >source.log 2>&1 || true
orig=$(ls criu_*.orig.tar.* 2>/dev/null | head -1 || true)
[ -n "$orig" ] || { cat source.log >&2; die "could not download the criu source from $mirror ($suite)"; }
remove_src_list
tar xf "$orig"
dir=$(find . -maxdepth 1 -type d -name 'criu-*' | head -1)
cd "$dir"
info "building $(basename "$dir") (make criu)"
nice make -j"$(nproc)" criu >build.log 2>&1 || { tail -30 build.log >&2; die "make criu failed"; }
install -m 0755 criu/criu /usr/local/sbin/criu
hash -r
version=$(/usr/local/sbin/criu --version | awk '/^Version:/{print $2}')
info "installed /usr/local/sbin/criu ($version)"
echo "changed: built CRIU $version from $suite's source and installed /usr/local/sbin/criu"
