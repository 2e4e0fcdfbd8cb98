#!/usr/bin/env bash
# Installs Kubernetes and CRI-O from their upstream apt repositories, for the `kubernetes` lab's
# own cluster (lib/kubernetes/cluster/). Called by lab/provision.sh when P4CF_KUBERNETES_SOURCE=apt
# (the Vagrantfile sets it). Idempotent.
#
#   - pkgs.k8s.io (core:/stable:/vX.Y): kubelet, kubeadm, kubectl, cri-tools (crictl), kubernetes-cni
#   - CRI-O's repository (isv:cri-o:stable:vX.Y on the openSUSE Build Service, where CRI-O moved
#     from pkgs.k8s.io's addons): cri-o (crio, pinns, conmon)
#   - the control plane, which no apt repository carries (pkgs.k8s.io has no kube-apiserver,
#     kube-controller-manager, kube-scheduler or etcd package): the unmodified binaries out of
#     the same release's images that `kubeadm init` runs (`kubeadm config images list`), copied
#     with podman into /usr/local/lib/p4containerflow/kubernetes/bin and linked into
#     /usr/local/bin. Set P4CF_KUBERNETES_CONTROL_PLANE=skip to leave them out and use the
#     kubeadm route instead (README: "Kubernetes in the Vagrant VM").
#   - the packages' kubelet and crio services are disabled: the lab starts its own, and refuses
#     to start beside a running kubelet or CRI-O.
#
# Output protocol for lab/provision.sh: "changed: …", "package: <name>", "file: <path>" lines;
# "unreachable: <what>" when a source cannot be reached (then nothing of that source is left
# behind and it exits 3); "missing: <program>" for programs still missing at the end (exit 4).
#
# Environment:
#   P4CF_KUBERNETES_VERSION=v1.36   the Kubernetes minor release (and CRI-O's, which follows it)
#   P4CF_KUBERNETES_APT_URL=...     base of Kubernetes' repository, if you use a mirror of it
#   P4CF_CRIO_APT_URL=...           base of CRI-O's repository, if you use a mirror of it
set -euo pipefail
info() { printf '    %s\n' "$*"; }
die() { printf 'install-kubernetes-apt: %s\n' "$*" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

minor=${P4CF_KUBERNETES_VERSION:-v1.36}
[[ "$minor" =~ ^v1\.[0-9]+$ ]] || die "P4CF_KUBERNETES_VERSION=$minor is not a minor release like v1.36"
k8s_url=${P4CF_KUBERNETES_APT_URL:-https://pkgs.k8s.io/core:/stable:/$minor/deb}
crio_url=${P4CF_CRIO_APT_URL:-https://download.opensuse.org/repositories/isv:/cri-o:/stable:/$minor/deb}
keyrings=/etc/apt/keyrings
k8s_key=$keyrings/p4containerflow-kubernetes.asc
k8s_list=/etc/apt/sources.list.d/p4containerflow-kubernetes.list
crio_key=$keyrings/p4containerflow-cri-o.asc
crio_list=/etc/apt/sources.list.d/p4containerflow-cri-o.list
cp_dir=/usr/local/lib/p4containerflow/kubernetes/bin
apt_opts=(-o DPkg::Lock::Timeout=300)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# A repository: its key (armored, fetched over HTTPS) and its signed-by source line. When the key
# cannot be fetched, nothing is written.
add_repo() { # name url key list
  local name=$1 url=$2 key=$3 list=$4 line tmp
  line="deb [signed-by=$key] $url/ /"
  if [ -s "$key" ] && [ "$(cat "$list" 2>/dev/null)" = "$line" ]; then return 0; fi
  tmp=$(mktemp)
  if ! curl -fsSL --max-time 30 "$url/Release.key" -o "$tmp" 2>/dev/null; then
    rm -f "$tmp"
    echo "unreachable: $name's apt repository ($url)"
    return 1
  fi
  mkdir -p "$keyrings"
  install -m 0644 "$tmp" "$key"
  rm -f "$tmp"
  echo "$line" >"$list"
  echo "file: $key"
  echo "file: $list"
  echo "changed: added $name's apt repository ($list, key $key)"
}
# Removes what add_repo wrote (a source line apt cannot fetch would fail every later update).
drop_repos() {
  local f any=0
  for f in "$k8s_list" "$k8s_key" "$crio_list" "$crio_key"; do
    if [ -e "$f" ]; then rm -f "$f"; any=1; fi
  done
  if [ "$any" = 1 ]; then apt-get update -qq "${apt_opts[@]}" || true; fi
}

command -v curl >/dev/null || apt-get install -y -qq "${apt_opts[@]}" --no-install-recommends curl >/dev/null
ok=1
add_repo Kubernetes "$k8s_url" "$k8s_key" "$k8s_list" || ok=0
add_repo CRI-O "$crio_url" "$crio_key" "$crio_list" || ok=0
if [ "$ok" = 0 ]; then
  drop_repos
  exit 3
fi
info "apt-get update"
if ! apt-get update -qq "${apt_opts[@]}" 2>/tmp/p4cf-kubernetes-apt.log; then
  cat /tmp/p4cf-kubernetes-apt.log >&2
  echo "unreachable: the package indexes of $k8s_url or $crio_url"
  drop_repos
  exit 3
fi

packages=(kubelet kubeadm kubectl cri-tools kubernetes-cni cri-o)
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  info "installing: ${missing[*]}"
  apt-get install -y -qq "${apt_opts[@]}" --no-install-recommends "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do echo "package: $p"; done
  echo "changed: installed apt packages: ${missing[*]}"
fi

# The packages enable their services; the lab runs its own kubelet and CRI-O.
if [ -d /run/systemd/system ]; then
  for s in kubelet crio; do
    if systemctl is-enabled "$s" >/dev/null 2>&1 || systemctl is-active "$s" >/dev/null 2>&1; then
      systemctl disable --now "$s" >/dev/null 2>&1 || true
      echo "changed: disabled the $s service (the kubernetes lab starts its own)"
    fi
  done
fi

# The control plane out of the release's own images.
if [ "${P4CF_KUBERNETES_CONTROL_PLANE:-images}" = images ]; then
  mkdir -p "$cp_dir"
  # image name → program inside it
  declare -A program=([kube-apiserver]=kube-apiserver [kube-controller-manager]=kube-controller-manager
    [kube-scheduler]=kube-scheduler [etcd]=etcd)
  # Pinned to the installed kubeadm's release (without it kubeadm asks the internet for the newest).
  images=$(kubeadm config images list --kubernetes-version "$(kubeadm version -o short 2>/dev/null)" \
    2>/dev/null || true)
  [ -n "$images" ] || echo "unreachable: the release's image list (kubeadm config images list)"
  for image in $images; do
    name=${image##*/}
    name=${name%%:*}
    prog=${program[$name]:-}
    [ -n "$prog" ] || continue
    want="$cp_dir/$prog.image"
    if [ -x "$cp_dir/$prog" ] && [ "$(cat "$want" 2>/dev/null)" = "$image" ]; then continue; fi
    info "$prog from $image"
    if ! podman pull -q "$image" >/dev/null 2>&1; then
      echo "unreachable: $image"
      continue
    fi
    # Created, never started: only to copy the program out (the command is a placeholder).
    if ! ctr=$(podman create --entrypoint "" "$image" "/usr/local/bin/$prog" 2>/dev/null); then
      echo "unreachable: /usr/local/bin/$prog in $image (podman create failed)"
      continue
    fi
    if podman cp "$ctr:/usr/local/bin/$prog" "$cp_dir/$prog.tmp"; then
      mv "$cp_dir/$prog.tmp" "$cp_dir/$prog"
      echo "$image" >"$want"
      ln -sf "$cp_dir/$prog" "/usr/local/bin/$prog"
      echo "file: /usr/local/bin/$prog"
      echo "changed: $prog from $image into $cp_dir (linked from /usr/local/bin)"
    else
      echo "unreachable: /usr/local/bin/$prog in $image"
    fi
    podman rm -f "$ctr" >/dev/null
    podman rmi -f "$image" >/dev/null 2>&1 || true
  done
  [ -d "$cp_dir" ] && echo "file: /usr/local/lib/p4containerflow"
fi

# What lib/kubernetes/cluster/binaries.ts looks for (PATH, here with CRI-O's libexec).
absent=()
for p in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet crio pinns crictl; do
  command -v "$p" >/dev/null || absent+=("$p")
done
if [ ${#absent[@]} -gt 0 ]; then
  for p in "${absent[@]}"; do echo "missing: $p"; done
  exit 4
fi
info "ok (kubelet $(kubelet --version 2>/dev/null | awk '{print $2}'), crio $(crio --version 2>/dev/null | awk '/^Version:/{print $2}'))"
