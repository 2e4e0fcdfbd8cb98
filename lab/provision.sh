#!/usr/bin/env bash
# Provisions a Debian 12/13 or Ubuntu 22.04/24.04 host (or the Vagrant VM) for P4ContainerFlow.
#
# Idempotent: every step checks before it acts, so a second run changes nothing and takes seconds.
# Installs Deno, the network tools, gcc, Podman + runc (configured for this host), CRIU >= 4.2
# (the distribution's when it passes a real TCP dump/restore check, else built from a newer
# Debian/Ubuntu source package taken from this machine's own apt mirror), and BMv2 + p4c from
# p4lang's OBS packages when asked to (the Vagrantfile does).
#
# Environment:
#   P4CF_P4_SOURCE=obs|skip   install BMv2/p4c from p4lang's OBS repository (default: obs inside
#                             the Vagrant VM, skip elsewhere unless already installed)
#   P4CF_OBS_URL=...          base URL of that repository, if you use a mirror of it
set -euo pipefail

DENO_VERSION=2.9.6
CRIU_MIN=4.2
here=$(cd "$(dirname "$0")/.." && pwd)

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'provision: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash lab/provision.sh)"
[ -r /etc/os-release ] || die "cannot read /etc/os-release: only Debian 12/13 and Ubuntu 22.04/24.04 are supported"
. /etc/os-release
case "$ID:${VERSION_ID:-}" in
  debian:12|debian:13|ubuntu:22.04|ubuntu:24.04) ;;
  *) info "warning: $PRETTY_NAME is not a tested distribution (Debian 12/13, Ubuntu 22.04/24.04); trying anyway" ;;
esac
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    info "apt-get update"
    apt-get update -qq -o DPkg::Lock::Timeout=300
    apt_updated=1
  fi
}
missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
apt_install() {
  local missing
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  apt_update
  info "installing: $(echo $missing)"
  # shellcheck disable=SC2086
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends $missing >/dev/null
}
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

# --- base packages ---------------------------------------------------------------------------
step "System packages"
apt_install ca-certificates iproute2 ethtool nftables iptables tcpdump procps psmisc util-linux \
  gcc libc6-dev make podman runc catatonit uidmap conmon containernetworking-plugins redis-server \
  redis-tools git dpkg-dev
info "ok"

# Redis is a lab workload, started per lab; the distribution's always-on service is not wanted.
if [ -d /run/systemd/system ] && systemctl is-enabled redis-server >/dev/null 2>&1; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
fi

# --- Deno ------------------------------------------------------------------------------------
step "Deno $DENO_VERSION"
if command -v deno >/dev/null && [ "$(deno --version | awk 'NR==1{print $2}')" = "$DENO_VERSION" ]; then
  info "ok ($(command -v deno))"
else
  command -v npm >/dev/null || apt_install npm
  # The deno npm package carries the binary in a per-platform dependency; its install script is
  # not needed, so it may stay disabled.
  npm install -g --no-fund --no-audit "deno@$DENO_VERSION" >/dev/null
  deno --version | head -1 || die "deno did not install; check that the npm registry is reachable"
fi

# --- Podman configuration --------------------------------------------------------------------
step "Podman configuration"
hard_nofile=$(ulimit -Hn)
hard_nproc=$(ulimit -Hu)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
[ "$hard_nproc" = unlimited ] && hard_nproc=1048576
# Podman 4.3 lowers its own process limit to 32768 at start; a larger container limit then fails
# with "error setting rlimit type 6".
[ "$hard_nproc" -gt 32768 ] && hard_nproc=32768
conf_dir=/etc/containers/containers.conf.d
mkdir -p "$conf_dir"
cgroup_line=""
[ -d /run/systemd/system ] || cgroup_line='cgroup_manager = "cgroupfs"'
events_line=""
[ -d /run/systemd/system ] || events_line='events_logger = "file"'
desired=$(cat <<EOF
# Written by P4ContainerFlow's lab/provision.sh.
# runc: checkpoint/restore with CRIU works with it, and crun rejects hybrid cgroup layouts.
# Explicit ulimits: without CAP_SYS_RESOURCE podman's defaults cannot be applied.
[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}", "nproc=${hard_nproc}:${hard_nproc}"]

[engine]
runtime = "runc"
${cgroup_line}
${events_line}
EOF
)
if [ "$(cat "$conf_dir/p4containerflow.conf" 2>/dev/null)" != "$desired" ]; then
  printf '%s\n' "$desired" >"$conf_dir/p4containerflow.conf"
  info "wrote $conf_dir/p4containerflow.conf"
else
  info "ok"
fi

# --- CRIU --------------------------------------------------------------------------------------
step "CRIU >= $CRIU_MIN"
criu_version() { "$1" --version 2>/dev/null | awk '/^Version:/{print $2}'; }
stamp_dir=/var/lib/p4containerflow
criu_ok() {
  local bin=$1 v id
  v=$(criu_version "$bin")
  [ -n "$v" ] && version_ge "$v" "$CRIU_MIN" || return 1
  # A binary that passed once is not checked again (stamp: path, size, mtime).
  id="$bin $(stat -c '%s %Y' "$bin")"
  [ "$(cat "$stamp_dir/criu-selfcheck.ok" 2>/dev/null)" = "$id" ] && return 0
  # A real TCP dump/restore round trip, not just a version number (see lib/criu/selfcheck.ts).
  info "TCP dump/restore self-check of $bin"
  (cd "$here" && CRIU="$bin" deno run -A main.ts doctor --criu-selfcheck >/tmp/p4cf-criu-selfcheck.log 2>&1) || return 1
  mkdir -p "$stamp_dir"
  echo "$id" >"$stamp_dir/criu-selfcheck.ok"
}
criu_bin=$(command -v criu || true)
if [ -n "$criu_bin" ] && criu_ok "$criu_bin"; then
  info "ok ($criu_bin $(criu_version "$criu_bin"))"
else
  [ -n "$criu_bin" ] && info "$criu_bin ($(criu_version "$criu_bin")) is too old or failed the TCP self-check"
  apt_update
  candidate=$(apt-cache policy criu 2>/dev/null | awk '/Candidate:/{print $2}')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && version_ge "${candidate%%-*}" "$CRIU_MIN" \
    && [ ! -x /usr/local/sbin/criu ]; then
    info "trying the distribution's criu $candidate"
    apt_install criu
    criu_ok /usr/sbin/criu && built=skip || info "the distribution's criu failed the self-check"
  fi
  if [ "${built:-}" != skip ]; then
    bash "$here/lab/provision/build-criu.sh"
    criu_ok /usr/local/sbin/criu || die "the CRIU built from source failed its TCP self-check; see /tmp/p4cf-criu-selfcheck.log"
  fi
  info "ok ($(command -v criu) $(criu_version "$(command -v criu)"))"
fi

# --- BMv2 and p4c ------------------------------------------------------------------------------
step "BMv2 (simple_switch_grpc) and p4c"
if command -v simple_switch_grpc >/dev/null && command -v p4c >/dev/null; then
  info "ok ($(command -v simple_switch_grpc), $(command -v p4c))"
else
  p4_source=${P4CF_P4_SOURCE:-}
  [ -z "$p4_source" ] && { [ -d /vagrant ] && p4_source=obs || p4_source=skip; }
  for tool in simple_switch_grpc p4c; do
    command -v "$tool" >/dev/null && info "found $(command -v "$tool")" || info "missing: $tool"
  done
  if [ "$p4_source" = obs ]; then
    bash "$here/lab/provision/install-p4-obs.sh"
  else
    info "Without BMv2 the switch tier of the tests is skipped and the demo and labs cannot run;"
    info "without p4c the P4 program cannot be recompiled. To install both from p4lang's OBS"
    info "packages, run"
    info "  P4CF_P4_SOURCE=obs bash lab/provision.sh"
    info "(or use the Vagrant VM, which does this)."
  fi
fi

step "Done"
