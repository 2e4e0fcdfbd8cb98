#!/usr/bin/env bash
# Provisions a Debian 12/13 or Ubuntu 22.04/24.04 host (or the Vagrant VM) for P4ContainerFlow.
# Run it as root: bash lab/provision.sh
#
# Idempotent: every step checks before it acts, so a second run changes nothing and takes seconds.
# Installs Deno, the network tools, gcc, Podman + runc (configured for this host), CRIU >= 4.2
# (the distribution's when it passes a real TCP dump/restore check, else built from a newer
# Debian/Ubuntu source package taken from this machine's own apt mirror), and BMv2 + p4c from
# p4lang's OBS packages when asked to (the Vagrantfile does). At its end it lists what it changed.
#
# What it changes on the machine (all recorded in /var/lib/p4containerflow/manifest):
#   - apt packages it installs (listed in the manifest; Deno through npm when missing)
#   - /etc/containers/containers.conf.d/p4containerflow.conf: Podman's defaults for every user
#     of this machine (runtime runc, explicit ulimits, cgroupfs and file events without systemd)
#   - when CRIU is built: a deb-src line for Debian unstable (Ubuntu: devel) in
#     /etc/apt/sources.list.d/p4containerflow-criu-src.list while it builds (removed afterwards,
#     with another apt-get update), CRIU's build dependencies, /usr/local/sbin/criu
#   - with P4CF_P4_SOURCE=obs: /etc/apt/sources.list.d/p4lang.list, /etc/apt/keyrings/p4lang.asc
#   - with P4CF_KUBERNETES_SOURCE=apt: Kubernetes' and CRI-O's apt sources and keys
#     (/etc/apt/sources.list.d/p4containerflow-{kubernetes,cri-o}.list, /etc/apt/keyrings/), their
#     packages, the control plane's binaries in /usr/local/lib/p4containerflow (linked from
#     /usr/local/bin), the packages' kubelet and crio services disabled
#     (lab/provision/install-kubernetes-apt.sh says how and why)
#   - /var/lib/p4containerflow: the CRIU self-check stamp and the manifest
#   - systemd hosts only: redis-server's always-on service disabled (labs start their own)
#
# Undo:
#   bash lab/provision.sh --undo   removes its files (Podman configuration, apt sources and key,
#                                  the CRIU it built, stamp, manifest, build cache) and prints the
#                                  packages it installed with the command that removes them
#                                  (not removed by itself: other software may need them).
#
# Environment:
#   P4CF_P4_SOURCE=obs|skip   install BMv2/p4c from p4lang's OBS repository (default: obs inside
#                             the Vagrant VM, skip elsewhere unless already installed)
#   P4CF_OBS_URL=...          base URL of that repository, if you use a mirror of it
#   P4CF_KUBERNETES_SOURCE=apt|skip   install Kubernetes and CRI-O from their apt repositories
#                             (default skip; the Vagrantfile sets apt). A source that cannot be
#                             reached is reported at the end and skipped, as is p4lang's.
#   P4CF_BMV2, P4CF_P4C       a BMv2 (simple_switch_grpc) or p4c installed elsewhere: counts as
#                             installed (the project uses it; see `deno task doctor`)
set -euo pipefail

DENO_VERSION=2.9.6
CRIU_MIN=4.2
here=$(cd "$(dirname "$0")/.." && pwd)
state_dir=/var/lib/p4containerflow
manifest=$state_dir/manifest
podman_conf=/etc/containers/containers.conf.d/p4containerflow.conf
criu_src_list=/etc/apt/sources.list.d/p4containerflow-criu-src.list
p4lang_list=/etc/apt/sources.list.d/p4lang.list
p4lang_key=/etc/apt/keyrings/p4lang.asc
build_cache=/var/cache/p4containerflow

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'provision: %s\n' "$*" >&2; exit 1; }

mode=provision
case "${1:-}" in
  "") ;;
  --undo) mode=undo ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument \"$1\" (did you mean --undo? see: bash lab/provision.sh --help)" ;;
esac

[ "$(id -u)" -eq 0 ] || die "run it as root: bash lab/provision.sh${1:+ $1}"
case "${P4CF_KUBERNETES_SOURCE:-skip}" in
  apt|skip) ;;
  *) die "P4CF_KUBERNETES_SOURCE=$P4CF_KUBERNETES_SOURCE: use apt or skip" ;;
esac
export DEBIAN_FRONTEND=noninteractive

# What this run changed, printed at the end, and what it could not install (it goes on without).
changes=()
not_installed=()
changed() { changes+=("$*"); }
# The manifest: one "kind value" per line (file, package, npm), read by --undo.
record() {
  mkdir -p "$state_dir"
  grep -qxF "$1 $2" "$manifest" 2>/dev/null || echo "$1 $2" >>"$manifest"
}

# --- undo ------------------------------------------------------------------------------------
if [ "$mode" = undo ]; then
  step "Undoing what lab/provision.sh added"
  removed=()
  remove() { # path: removes it if there
    if [ -e "$1" ] || [ -L "$1" ]; then rm -rf -- "$1"; removed+=("$1"); fi
  }
  [ -f "$podman_conf" ] && head -1 "$podman_conf" | grep -q "Written by P4ContainerFlow" &&
    remove "$podman_conf"
  sources_changed=0
  if [ -f "$criu_src_list" ]; then remove "$criu_src_list"; sources_changed=1; fi
  if [ -f "$p4lang_list" ] && grep -qF "signed-by=$p4lang_key" "$p4lang_list"; then
    remove "$p4lang_list"; remove "$p4lang_key"; sources_changed=1
  fi
  # Kubernetes' and CRI-O's sources (P4CF_KUBERNETES_SOURCE=apt); their keys and the control
  # plane's binaries are recorded files, removed below.
  for f in /etc/apt/sources.list.d/p4containerflow-kubernetes.list \
    /etc/apt/sources.list.d/p4containerflow-cri-o.list; do
    if [ -f "$f" ]; then remove "$f"; sources_changed=1; fi
  done
  packages=$(awk '$1 == "package" {print $2}' "$manifest" 2>/dev/null | tr '\n' ' ' || true)
  npm_packages=$(awk '$1 == "npm" {print $2}' "$manifest" 2>/dev/null | tr '\n' ' ' || true)
  # Files it recorded (the CRIU it built); anything else it made lives under these two.
  recorded_files=$(grep '^file ' "$manifest" 2>/dev/null || true)
  for f in $(awk '{print $2}' <<<"$recorded_files"); do remove "$f"; done
  remove "$build_cache"
  remove "$state_dir"
  remove /tmp/p4cf-criu-selfcheck.log
  if [ -x /usr/local/sbin/criu ] && ! grep -qx "file /usr/local/sbin/criu" <<<"${recorded_files:-}"; then
    info "left /usr/local/sbin/criu: not recorded as built by lab/provision.sh (remove it if it was)"
  fi
  if [ "$sources_changed" -eq 1 ]; then
    info "apt-get update (without the removed sources)"
    apt-get update -qq -o DPkg::Lock::Timeout=300 || info "apt-get update failed; run it again later"
  fi
  if [ ${#removed[@]} -eq 0 ]; then
    info "nothing to remove: no files of lab/provision.sh are on this machine"
  else
    info "removed:"
    for r in "${removed[@]}"; do info "  $r"; done
  fi
  if [ -n "${packages// /}" ]; then
    info "left installed (other software may need them), apt packages it installed:"
    info "  $packages"
    info "remove them, as root, with: apt-get purge $packages && apt-get autoremove"
  fi
  [ -n "${npm_packages// /}" ] && info "and through npm: $npm_packages (remove with: npm uninstall -g $npm_packages)"
  if [ -d /run/systemd/system ] && command -v redis-server >/dev/null; then
    info "redis-server's service stays disabled; re-enable it with: systemctl enable --now redis-server"
  fi
  exit 0
fi

[ -r /etc/os-release ] || die "cannot read /etc/os-release: only Debian 12/13 and Ubuntu 22.04/24.04 are supported"
. /etc/os-release
case "$ID:${VERSION_ID:-}" in
  debian:12|debian:13|ubuntu:22.04|ubuntu:24.04) ;;
  *) info "warning: $PRETTY_NAME is not a tested distribution (Debian 12/13, Ubuntu 22.04/24.04); trying anyway" ;;
esac

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
  local missing p
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  apt_update
  info "installing: $(echo $missing)"
  # shellcheck disable=SC2086
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends $missing >/dev/null
  for p in $missing; do record package "$p"; done
  changed "installed apt packages: $(echo $missing)"
}
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

# --- base packages ---------------------------------------------------------------------------
step "System packages"
apt_install ca-certificates iproute2 ethtool nftables iptables tcpdump procps psmisc util-linux \
  gcc libc6-dev make podman runc catatonit uidmap conmon containernetworking-plugins redis-server \
  redis-tools git dpkg-dev python3-grpcio python3-grpc-tools
info "ok"

# Redis is a lab workload, started per lab; the distribution's always-on service is not wanted.
if [ -d /run/systemd/system ] && systemctl is-enabled redis-server >/dev/null 2>&1; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
  changed "disabled the redis-server service (labs start their own)"
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
  record npm deno
  changed "installed deno $DENO_VERSION with npm ($(command -v deno))"
fi
# The project's npm dependencies (pinned by deno.lock), fetched now and quietly: otherwise the
# first command a student runs prints Deno's notice about npm:protobufjs's ignored build script.
(cd "$here" && deno cache --quiet main.ts >/dev/null 2>&1) || info "deno could not cache the dependencies yet"

# --- Podman configuration --------------------------------------------------------------------
step "Podman configuration"
hard_nofile=$(ulimit -Hn)
hard_nproc=$(ulimit -Hu)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
[ "$hard_nproc" = unlimited ] && hard_nproc=1048576
# Podman 4.3 lowers its own process limit to 32768 at start; a larger container limit then fails
# with "error setting rlimit type 6".
[ "$hard_nproc" -gt 32768 ] && hard_nproc=32768
mkdir -p "$(dirname "$podman_conf")"
cgroup_line=""
[ -d /run/systemd/system ] || cgroup_line='cgroup_manager = "cgroupfs"'
events_line=""
[ -d /run/systemd/system ] || events_line='events_logger = "file"'
desired=$(cat <<EOF
# Written by P4ContainerFlow's lab/provision.sh (\`bash lab/provision.sh --undo\` removes it).
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
if [ "$(cat "$podman_conf" 2>/dev/null)" != "$desired" ]; then
  printf '%s\n' "$desired" >"$podman_conf"
  info "wrote $podman_conf"
  changed "wrote $podman_conf: Podman's defaults for every user of this machine (runtime runc, ulimits nofile=$hard_nofile nproc=$hard_nproc${cgroup_line:+, cgroupfs}${events_line:+, file events})"
else
  info "ok"
fi
record file "$podman_conf"

# --- CRIU --------------------------------------------------------------------------------------
step "CRIU >= $CRIU_MIN"
criu_version() { "$1" --version 2>/dev/null | awk '/^Version:/{print $2}'; }
criu_ok() {
  local bin=$1 v id
  v=$(criu_version "$bin")
  [ -n "$v" ] && version_ge "$v" "$CRIU_MIN" || return 1
  # A binary that passed once is not checked again (stamp: path, size, mtime).
  id="$bin $(stat -c '%s %Y' "$bin")"
  [ "$(cat "$state_dir/criu-selfcheck.ok" 2>/dev/null)" = "$id" ] && return 0
  # A real TCP dump/restore round trip, not just a version number (see lib/criu/selfcheck.ts).
  # doctor also fails when something else the demo needs (BMv2) is missing: its self-check line
  # is what counts here.
  info "TCP dump/restore self-check of $bin"
  (cd "$here" && CRIU="$bin" deno run -A main.ts doctor --criu-selfcheck >/tmp/p4cf-criu-selfcheck.log 2>&1) || true
  grep -q '^ok  *CRIU TCP self-check' /tmp/p4cf-criu-selfcheck.log || return 1
  mkdir -p "$state_dir"
  echo "$id" >"$state_dir/criu-selfcheck.ok"
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
    # It reports what it does to the machine in "changed: …" and "package: …" lines.
    build_status=1
    while IFS= read -r line; do
      case "$line" in
        "changed: "*) changed "${line#changed: }" ;;
        "package: "*) record package "${line#package: }" ;;
        "exit: "*) build_status=${line#exit: } ;;
        *) printf '%s\n' "$line" ;;
      esac
    done < <(bash "$here/lab/provision/build-criu.sh" 2>&1; echo "exit: $?")
    [ "$build_status" = 0 ] || die "building CRIU failed (see above)"
    record file /usr/local/sbin/criu
    criu_ok /usr/local/sbin/criu || die "the CRIU built from source failed its TCP self-check; see /tmp/p4cf-criu-selfcheck.log"
  fi
  changed "CRIU: $(command -v criu) $(criu_version "$(command -v criu)") passed the TCP self-check"
  info "ok ($(command -v criu) $(criu_version "$(command -v criu)"))"
fi

# The unstable (devel) source index is only needed while CRIU builds; a run before this one may
# have left it (and its build cache): every later `apt-get update` would fetch that index.
if [ -f "$criu_src_list" ]; then
  rm -f "$criu_src_list"
  info "removed $criu_src_list; apt-get update"
  apt-get update -qq -o DPkg::Lock::Timeout=300 || info "apt-get update failed; it is harmless, run it again later"
  changed "removed $criu_src_list (the unstable source index CRIU was built from)"
fi
if [ -d "$build_cache" ]; then
  rm -rf "$build_cache"
  changed "removed the CRIU build cache $build_cache"
fi

# --- BMv2 and p4c ------------------------------------------------------------------------------
step "BMv2 (simple_switch_grpc) and p4c"
# Where a tool is: its setting (a file, or a directory holding it or its bin/), else PATH, else
# /usr/local/bin etc. (as lib/tools.ts looks).
find_tool() {
  local program=$1 setting=${2:-} d
  if [ -n "$setting" ]; then
    if [ -d "$setting" ]; then
      for d in "$setting" "$setting/bin" "$setting/sbin"; do
        [ -x "$d/$program" ] && { echo "$d/$program"; return 0; }
      done
      return 1
    fi
    [ -x "$setting" ] && { echo "$setting"; return 0; }
    return 1
  fi
  command -v "$program" 2>/dev/null && return 0
  for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -x "$d/$program" ] && { echo "$d/$program"; return 0; }
  done
  return 1
}
bmv2_bin=$(find_tool simple_switch_grpc "${P4CF_BMV2:-}" || true)
p4c_bin=$(find_tool p4c "${P4CF_P4C:-}" || true)
if [ -n "$bmv2_bin" ] && [ -n "$p4c_bin" ]; then
  info "ok ($bmv2_bin, $p4c_bin)"
else
  p4_source=${P4CF_P4_SOURCE:-}
  [ -z "$p4_source" ] && { [ -d /vagrant ] && p4_source=obs || p4_source=skip; }
  [ -n "$bmv2_bin" ] && info "found $bmv2_bin" || info "missing: simple_switch_grpc${P4CF_BMV2:+ (P4CF_BMV2=$P4CF_BMV2 holds none)}"
  [ -n "$p4c_bin" ] && info "found $p4c_bin" || info "missing: p4c${P4CF_P4C:+ (P4CF_P4C=$P4CF_P4C holds none)}"
  if [ "$p4_source" = obs ]; then
    had_list=$([ -f "$p4lang_list" ] && echo 1 || echo 0)
    before=$(missing_packages p4lang-p4c p4lang-bmv2)
    if bash "$here/lab/provision/install-p4-obs.sh"; then
      record file "$p4lang_list"
      record file "$p4lang_key"
      [ "$had_list" = 0 ] && changed "added p4lang's apt repository ($p4lang_list, key $p4lang_key)"
      if [ -n "$before" ]; then
        for p in $before; do record package "$p"; done
        changed "installed apt packages: $(echo $before)"
      fi
    else
      # Unreachable (offline machines, a VM behind a proxy): everything else still works, and
      # the tests that need BMv2 are skipped with the reason. A source line it added must not
      # stay: every later apt-get update would fail on it.
      if [ "$had_list" = 0 ] && [ -f "$p4lang_list" ]; then
        rm -f "$p4lang_list" "$p4lang_key"
        apt-get update -qq -o DPkg::Lock::Timeout=300 || true
      fi
      not_installed+=("BMv2 and p4c: p4lang's packages could not be installed (see above)")
    fi
  else
    info "Without BMv2 the switch tier of the tests is skipped and the demo and labs cannot run;"
    info "without p4c the P4 program cannot be recompiled. Two ways to get them:"
    info "  - p4lang's OBS packages, as root: P4CF_P4_SOURCE=obs bash lab/provision.sh"
    info "    (or use the Vagrant VM, which does this);"
    info "  - a build of your own anywhere: P4CF_BMV2=/path/to/simple_switch_grpc and"
    info "    P4CF_P4C=/path/to/p4c (see deno task doctor)."
  fi
fi

# --- Kubernetes and CRI-O (for the kubernetes lab) -------------------------------------------------
kubernetes_source=${P4CF_KUBERNETES_SOURCE:-skip}
case "$kubernetes_source" in
  apt)
    step "Kubernetes and CRI-O from their apt repositories"
    # Same protocol as build-criu.sh, plus "file: …", "unreachable: …" and "missing: …" lines.
    k8s_status=1
    while IFS= read -r line; do
      case "$line" in
        "changed: "*) changed "${line#changed: }" ;;
        "package: "*) record package "${line#package: }" ;;
        "file: "*) record file "${line#file: }" ;;
        "unreachable: "*) info "not reachable from here: ${line#unreachable: }"
          not_installed+=("Kubernetes: ${line#unreachable: } not reachable") ;;
        "missing: "*) not_installed+=("Kubernetes: ${line#missing: } not installed") ;;
        "exit: "*) k8s_status=${line#exit: } ;;
        *) printf '%s\n' "$line" ;;
      esac
    # `|| s=$?`: the substitution's subshell inherits set -e, which would end it before the echo.
    done < <(s=0; bash "$here/lab/provision/install-kubernetes-apt.sh" 2>&1 || s=$?; echo "exit: $s")
    case "$k8s_status" in
      0) ;;
      3|4) info "the kubernetes lab and the Kubernetes tier of the tests need what is missing; they" \
             "say so and are skipped" ;;
      *) not_installed+=("Kubernetes: install-kubernetes-apt.sh failed (exit $k8s_status, see above)") ;;
    esac
    ;;
  *) ;; # skip (checked at the start)
esac

step "Done"
if [ ${#not_installed[@]} -gt 0 ]; then
  info "Not installed (the rest works without; the tests that need them are skipped):"
  for c in "${not_installed[@]}"; do info "  - $c"; done
fi
if [ ${#changes[@]} -eq 0 ]; then
  info "Nothing changed: this machine was already provisioned."
else
  info "Changed on this machine:"
  for c in "${changes[@]}"; do info "  - $c"; done
fi
info "Undo with: bash lab/provision.sh --undo (as root); the manifest is $manifest."
