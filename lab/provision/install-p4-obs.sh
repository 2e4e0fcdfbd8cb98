#!/usr/bin/env bash
# Installs BMv2 (simple_switch_grpc) and p4c from p4lang's packages on the openSUSE Build
# Service, the install path p4lang documents for Debian and Ubuntu. Called by lab/provision.sh
# when P4CF_P4_SOURCE=obs (the Vagrant VM sets it).
set -euo pipefail
. /etc/os-release
info() { printf '    %s\n' "$*"; }
die() { printf 'install-p4-obs: %s\n' "$*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

base=${P4CF_OBS_URL:-https://download.opensuse.org/repositories/home:/p4lang}
case "$ID:$VERSION_ID" in
  ubuntu:*) dist="xUbuntu_$VERSION_ID" ;;
  debian:*) dist="Debian_$VERSION_ID" ;;
  *) die "p4lang publishes packages for Debian and Ubuntu only" ;;
esac
repo="$base/$dist"
key=/etc/apt/keyrings/p4lang.asc
list=/etc/apt/sources.list.d/p4lang.list
apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends curl gnupg ca-certificates >/dev/null
mkdir -p /etc/apt/keyrings
if [ ! -s "$key" ]; then
  info "fetching p4lang's signing key from $repo"
  curl -fsSL --max-time 60 "$repo/Release.key" -o "$key.tmp" ||
    die "cannot reach $repo: without it BMv2/p4c can't be installed here (set P4CF_OBS_URL to a mirror)"
  mv "$key.tmp" "$key"
fi
line="deb [signed-by=$key] $repo/ /"
[ "$(cat "$list" 2>/dev/null)" = "$line" ] || echo "$line" >"$list"
apt-get update -qq -o DPkg::Lock::Timeout=300
info "installing p4lang-p4c and p4lang-bmv2 (this takes a few minutes)"
apt-get install -y -qq -o DPkg::Lock::Timeout=300 p4lang-p4c p4lang-bmv2 >/dev/null
command -v simple_switch_grpc >/dev/null || die "p4lang-bmv2 installed but simple_switch_grpc is not on PATH"
info "ok ($(command -v simple_switch_grpc), $(command -v p4c))"
