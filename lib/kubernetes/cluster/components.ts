/**
 * The argv of every cluster component (pure). The control plane listens on 127.0.0.1 only; the
 * kubelet's API alone listens on the node address (the API server's node proxy refuses loopback).
 *
 * CRI-O and the kubelet run inside the node's own mount namespace, held open by a small process
 * ({@link nodeNamespaceArgv}): on cgroup v1 machines where the hugetlb controller is not mounted
 * (which the kubelet requires) it is mounted there only, over a fresh tmpfs carrying the
 * machine's other controllers, so the machine's mount table never shows it; the overlay and shm
 * mounts of pods stay in there too and vanish with it. Every mount in there is a slave of the
 * machine's, but for two shared with it: /run/netns, so slots' parking namespaces the lab adds
 * later appear inside where the CNI plugin needs them, and CRI-O's directory of pod network
 * namespaces, so a pod's namespace (its CNI_NETNS path) is usable outside too (`lab exec`, probes).
 *
 * ```ts
 * const argv = apiServerArgv(spec); // ["/usr/bin/kube-apiserver", "--bind-address", "127.0.0.1", ...]
 * ```
 *
 * @module
 */
import type { ClusterBinaries } from "./binaries.ts";
import { KUBELET_PORT, type NodeIdentity } from "./config.ts";
import type { ClusterPaths } from "./paths.ts";
import { certPath, keyPath, SERVICE_CIDR, serviceAccountKeys } from "./pki.ts";

/** What every argv builder needs. */
export interface ClusterSpec {
  paths: ClusterPaths;
  binaries: ClusterBinaries;
  node: NodeIdentity;
  /** etcd skips fsync (a throwaway cluster; etcd >= 3.5 only). */
  etcdNoFsync?: boolean;
}

const LOOPBACK = "127.0.0.1";

export function etcdArgv(s: ClusterSpec): string[] {
  const pki = s.paths.pkiDir;
  const client = `https://${LOOPBACK}:${s.node.ports.etcdClient}`;
  const peer = `http://${LOOPBACK}:${s.node.ports.etcdPeer}`;
  return [
    s.binaries.etcd,
    "--name",
    "p4cf",
    "--data-dir",
    s.paths.etcdDir,
    "--listen-client-urls",
    client,
    "--advertise-client-urls",
    client,
    "--listen-peer-urls",
    peer,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    `p4cf=${peer}`,
    "--initial-cluster-state",
    "new",
    "--listen-metrics-urls",
    `http://${LOOPBACK}:${s.node.ports.etcdMetrics}`,
    "--cert-file",
    certPath(pki, "etcd-server"),
    "--key-file",
    keyPath(pki, "etcd-server"),
    "--client-cert-auth",
    "--trusted-ca-file",
    certPath(pki, "etcd-ca"),
    ...(s.etcdNoFsync ? ["--unsafe-no-fsync"] : []),
  ];
}

export function apiServerArgv(s: ClusterSpec): string[] {
  const pki = s.paths.pkiDir;
  const sa = serviceAccountKeys(pki);
  return [
    s.binaries["kube-apiserver"],
    "--bind-address",
    LOOPBACK,
    "--secure-port",
    String(s.node.ports.api),
    // Only feeds the `kubernetes` Service; any non-loopback local address silences its warnings.
    "--advertise-address",
    s.node.nodeIp,
    "--etcd-servers",
    `https://${LOOPBACK}:${s.node.ports.etcdClient}`,
    "--etcd-cafile",
    certPath(pki, "etcd-ca"),
    "--etcd-certfile",
    certPath(pki, "apiserver-etcd-client"),
    "--etcd-keyfile",
    keyPath(pki, "apiserver-etcd-client"),
    "--client-ca-file",
    certPath(pki, "ca"),
    "--tls-cert-file",
    certPath(pki, "apiserver"),
    "--tls-private-key-file",
    keyPath(pki, "apiserver"),
    "--kubelet-client-certificate",
    certPath(pki, "apiserver-kubelet-client"),
    "--kubelet-client-key",
    keyPath(pki, "apiserver-kubelet-client"),
    "--kubelet-certificate-authority",
    certPath(pki, "ca"),
    // The node proxy (checkpoint API) refuses loopback, so the kubelet is reached at its address.
    "--kubelet-preferred-address-types",
    "InternalIP",
    "--service-account-issuer",
    "https://kubernetes.default.svc.cluster.local",
    "--service-account-key-file",
    sa.pub,
    "--service-account-signing-key-file",
    sa.key,
    "--service-cluster-ip-range",
    SERVICE_CIDR,
    "--authorization-mode",
    "Node,RBAC",
    "--allow-privileged=true",
    "--anonymous-auth=false",
    "--profiling=false",
  ];
}

export function controllerManagerArgv(s: ClusterSpec): string[] {
  const pki = s.paths.pkiDir;
  const kc = s.paths.kubeconfigs.controllerManager;
  return [
    s.binaries["kube-controller-manager"],
    "--bind-address",
    LOOPBACK,
    "--secure-port",
    String(s.node.ports.controllerManager),
    "--tls-cert-file",
    certPath(pki, "controller-manager"),
    "--tls-private-key-file",
    keyPath(pki, "controller-manager"),
    "--kubeconfig",
    kc,
    "--authentication-kubeconfig",
    kc,
    "--authorization-kubeconfig",
    kc,
    "--service-account-private-key-file",
    serviceAccountKeys(pki).key,
    "--root-ca-file",
    certPath(pki, "ca"),
    "--use-service-account-credentials=true",
    "--cluster-signing-cert-file",
    certPath(pki, "ca"),
    "--cluster-signing-key-file",
    keyPath(pki, "ca"),
    "--leader-elect=false",
    "--allocate-node-cidrs=false",
    // Each controller first gets its own service account and token: the default client rate
    // (20/s) makes that take ~5 s, during which pods are refused for want of a service account.
    "--kube-api-qps=200",
    "--kube-api-burst=400",
    "--profiling=false",
  ];
}

export function schedulerArgv(s: ClusterSpec): string[] {
  const pki = s.paths.pkiDir;
  const kc = s.paths.kubeconfigs.scheduler;
  return [
    s.binaries["kube-scheduler"],
    "--bind-address",
    LOOPBACK,
    "--secure-port",
    String(s.node.ports.scheduler),
    "--tls-cert-file",
    certPath(pki, "scheduler"),
    "--tls-private-key-file",
    keyPath(pki, "scheduler"),
    "--kubeconfig",
    kc,
    "--authentication-kubeconfig",
    kc,
    "--authorization-kubeconfig",
    kc,
    "--leader-elect=false",
    "--profiling=false",
  ];
}

/**
 * Runs inside the new mount namespace (made with propagation unchanged): makes every mount a
 * slave of the machine's but /run/netns and the pods' namespace directory (shared both ways, see
 * the module doc), mounts hugetlb if the kubelet would miss it (cgroup v1 without it), creates the
 * kubelet's cgroup root in every hierarchy (the kubelet requires it to exist), makes the
 * namespace's own mounts shared among themselves (the kubelet and CRI-O rely on mount
 * propagation), says it is ready and stays as the namespace's holder.
 * Arguments: tmpfs mount point, ready file, cgroup root, pods' namespace directory.
 */
export const NODE_NS_SCRIPT = `set -eu
cgfs=$1 ready=$2 root=$3 podns=$4
rm -f "$ready"
findmnt -rn -o TARGET | sort -u | while read -r m; do
  m=$(printf '%b' "$m")
  case "$m" in /run/netns|"$podns") ;; *) mount --make-slave "$m" 2>/dev/null || true ;; esac
done
cg=/sys/fs/cgroup
if [ "$(stat -fc %T $cg)" != cgroup2fs ] &&
  grep -qE '^hugetlb[[:space:]].*[[:space:]]1$' /proc/cgroups &&
  ! findmnt -rn -t cgroup -o OPTIONS | tr , '\\n' | grep -qx hugetlb; then
  # The machine's controllers move onto a fresh tmpfs (nothing is created in the machine's
  # /sys/fs/cgroup), hugetlb is added, and the tmpfs covers /sys/fs/cgroup in here only.
  mkdir -p "$cgfs"
  mount -t tmpfs -o mode=755 p4cf-cgroup "$cgfs"
  for m in $(findmnt -rn -o TARGET | grep -E "^$cg/[^/]+$" | sort -u); do
    mkdir -p "$cgfs/\${m##*/}"
    mount --move "$m" "$cgfs/\${m##*/}"
  done
  mkdir "$cgfs/hugetlb"
  mount -t cgroup -o hugetlb p4cf-hugetlb "$cgfs/hugetlb"
  mount --move "$cgfs" $cg
fi
if [ "$(stat -fc %T $cg)" = cgroup2fs ]; then
  mkdir -p "$cg$root"
else
  for h in $cg/*/; do
    mountpoint -q "$h" || continue
    mkdir -p "$h$root"
    # A new cpuset cgroup starts with no CPUs and no memory nodes: give it its parent's.
    if [ -f "$h$root/cpuset.cpus" ]; then
      [ -n "$(cat "$h$root/cpuset.cpus")" ] || cat "$h/cpuset.cpus" > "$h$root/cpuset.cpus"
      [ -n "$(cat "$h$root/cpuset.mems")" ] || cat "$h/cpuset.mems" > "$h$root/cpuset.mems"
    fi
  done
fi
mount --make-rshared /
: > "$ready"
exec sleep infinity
`;

/** The holder of the node's mount namespace (its pid is the namespace's handle). */
export function nodeNamespaceArgv(s: ClusterSpec): string[] {
  return [
    s.binaries.unshare,
    "--mount",
    "--propagation",
    "unchanged",
    "bash",
    "-c",
    NODE_NS_SCRIPT,
    "p4cf-node-ns",
    s.paths.cgroupfsDir,
    s.paths.nodeNsReady,
    s.node.cgroupRoot,
    s.paths.crioNamespacesDir,
  ];
}

/** Prefixes argv so it runs in the mount namespace of process `holder`. */
export function inNodeNamespace(
  s: Pick<ClusterSpec, "binaries">,
  holder: number,
  argv: readonly string[],
): string[] {
  return [s.binaries.nsenter, `--mount=/proc/${holder}/ns/mnt`, "--", ...argv];
}

/** CRI-O with only our configuration (`--config-dir ""`: nothing from /etc/crio). */
export function crioArgv(s: ClusterSpec, holder: number): string[] {
  return inNodeNamespace(s, holder, [
    s.binaries.crio,
    "--config",
    s.paths.crioConf,
    "--config-dir",
    "",
  ]);
}

export function kubeletArgv(s: ClusterSpec, holder: number): string[] {
  return inNodeNamespace(s, holder, [
    s.binaries.kubelet,
    "--config",
    s.paths.kubeletConfig,
    "--kubeconfig",
    s.paths.kubeconfigs.kubelet,
    "--root-dir",
    s.paths.kubeletDir,
    "--node-ip",
    s.node.nodeIp,
    "--hostname-override",
    s.node.nodeName,
    "--v=1",
  ]);
}

/** The ports the control plane and the kubelet listen on (checked free before `up`). */
export function clusterPorts(node: Pick<NodeIdentity, "ports">): number[] {
  return [...Object.values(node.ports), KUBELET_PORT];
}
