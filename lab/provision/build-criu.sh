#!/usr/bin/env bash
# Builds CRIU from the newest source package of this machine's own distribution mirror (Debian
# unstable, or Ubuntu's development series) and installs the binary as /usr/local/sbin/criu.
# Called by lab/provision.sh when no CRIU >= 4.2 that passes the TCP self-check is installed.
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

src_list=/etc/apt/sources.list.d/p4containerflow-criu-src.list
line="deb-src $mirror $suite $components"
if [ "$(cat "$src_list" 2>/dev/null)" != "$line" ]; then
  echo "$line" >"$src_list"
fi
# Only source indexes come from that suite, so nothing installed changes release.
info "apt-get update (adds $suite source index)"
apt-get update -qq -o DPkg::Lock::Timeout=300

info "installing CRIU build dependencies"
apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends build-essential pkg-config python3 \
  libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-protobuf \
  libnl-3-dev libcap-dev libnet1-dev libaio-dev libgnutls28-dev libbsd-dev libnftables-dev \
  uuid-dev libdrm-dev >/dev/null

work=/var/cache/p4containerflow/criu-src
rm -rf "$work"
mkdir -p "$work"
cd "$work"
info "downloading the criu source package ($suite)"
# Only the upstream (orig) tarball is needed: `make criu` builds it as released. Mirrors sometimes
# lack the packaging tarball of a fresh upload, so a partial download is accepted.
apt-get source -qq --download-only criu >source.log 2>&1 || true
orig=$(ls criu_*.orig.tar.* 2>/dev/null | head -1 || true)
[ -n "$orig" ] || { cat source.log >&2; die "could not download the criu source from $mirror ($suite)"; }
tar xf "$orig"
dir=$(find . -maxdepth 1 -type d -name 'criu-*' | head -1)
cd "$dir"
info "building $(basename "$dir") (make criu)"
nice make -j"$(nproc)" criu >build.log 2>&1 || { tail -30 build.log >&2; die "make criu failed (log: $PWD/build.log)"; }
install -m 0755 criu/criu /usr/local/sbin/criu
hash -r
info "installed /usr/local/sbin/criu ($(/usr/local/sbin/criu --version | awk '/^Version:/{print $2}'))"
