/**
 * The cluster's configuration files as strings (pure): CRI-O's crio.conf, the kubelet's
 * KubeletConfiguration, kubeconfigs, and the RBAC that lets the lab's migrator use the kubelet's
 * checkpoint API through the API server and nothing else. Also the lab-derived node identity.
 *
 * ```ts
 * const node = nodeIdentity("k8s"); // { nodeName: "k8s-node", nodeIp: "10.254.x.1", ... }
 * await Deno.writeTextFile(paths.crioConf, crioConf({ paths, binaries, pauseImage: PAUSE_IMAGE }));
 * ```
 *
 * @module
 */
import { fnv1a } from "../../hash.ts";
import { labNamespace, MANAGED_BY_LABELS } from "../namespace.ts";
import { stringify } from "yaml";
import type { ClusterBinaries } from "./binaries.ts";
import type { ClusterPaths } from "./paths.ts";
import { certPath, keyPath, MIGRATOR_USER } from "./pki.ts";

/** The kubelet's API port, on the lab's own node address (so the same in every lab). */
export const KUBELET_PORT = 10250;

/**
 * The loopback ports of a lab's cluster. Kubernetes' usual ones (6443, 2379-2381, 10257, 10259,
 * 10248) would allow one cluster per machine; a block derived from the lab id lets several
 * Kubernetes labs run side by side, as the switch ports do (lib/lab/naming.ts). Below Linux's
 * ephemeral range (32768-), so no outgoing connection holds them.
 */
export interface ClusterPorts {
  api: number;
  etcdClient: number;
  etcdPeer: number;
  etcdMetrics: number;
  controllerManager: number;
  scheduler: number;
  kubeletHealthz: number;
}

const CLUSTER_PORT_FLOOR = 30000;
const CLUSTER_PORT_BLOCK = 8;
const CLUSTER_PORT_BLOCKS = 340;

/** The cluster ports of lab `labId` (pure). */
export function clusterPortsOf(labId: string): ClusterPorts {
  const base = CLUSTER_PORT_FLOOR +
    (fnv1a(`k8s:${labId}`) % CLUSTER_PORT_BLOCKS) * CLUSTER_PORT_BLOCK;
  return {
    api: base,
    etcdClient: base + 1,
    etcdPeer: base + 2,
    etcdMetrics: base + 3,
    controllerManager: base + 4,
    scheduler: base + 5,
    kubeletHealthz: base + 6,
  };
}

/** The API server's URL (it listens on loopback only). */
export function apiServerUrl(node: Pick<NodeIdentity, "ports">): string {
  return `https://127.0.0.1:${node.ports.api}`;
}

/** The pause image built FROM scratch into CRI-O's storage (see pause.ts). */
export const PAUSE_IMAGE = "localhost/p4cf/pause:1";

/** CNI plugins shipped by the distribution (Debian/Ubuntu) and by the upstream tarball. */
export const SYSTEM_CNI_DIRS = ["/usr/lib/cni", "/opt/cni/bin"];

/** Name of the RBAC role and binding of the migrator. */
export const MIGRATOR_ROLE = "p4cf-migrator";

/** Everything a lab's node is called and addressed by. */
export interface NodeIdentity {
  labId: string;
  /** Kubernetes node name, `<id>-node`. */
  nodeName: string;
  /** The port-less bridge holding the node address, `<id>-node`. */
  device: string;
  /**
   * The kubelet's address: not loopback, as the API server's node proxy refuses loopback
   * targets; a /32 on {@link device}, reachable from nowhere else.
   */
  nodeIp: string;
  /** Cgroup under which the kubelet puts every pod (`/p4cf-<id>`), so `down` finds them. */
  cgroupRoot: string;
  /** Namespace of the lab's pods. */
  namespace: string;
  /** Loopback ports of its control plane and kubelet health check. */
  ports: ClusterPorts;
}

/** The node identity of a lab: names with the lab's prefix, an address derived from its id. */
export function nodeIdentity(labId: string): NodeIdentity {
  return {
    labId,
    nodeName: `${labId}-node`,
    device: `${labId}-node`,
    nodeIp: `10.254.${1 + (fnv1a(labId) % 254)}.1`,
    cgroupRoot: `/p4cf-${labId}`,
    namespace: labNamespace({ id: labId }),
    ports: clusterPortsOf(labId),
  };
}

const q = (s: string) => JSON.stringify(s); // a TOML basic string

export interface CrioConfOptions {
  paths: ClusterPaths;
  binaries: Pick<ClusterBinaries, "pinns" | "runc" | "conmon">;
  pauseImage: string;
  /** Plugin directories of the machine searched after the lab's (default {@link SYSTEM_CNI_DIRS}). */
  systemCniDirs?: readonly string[];
}

/**
 * crio.conf: every state path under the run directory, CRIU support on, no infra process, the
 * locally built pause image, and NO signature_policy (an explicit one breaks checkpoint restore;
 * /etc/containers/policy.json applies). CRI-O is started with `--config-dir ""` so nothing in
 * /etc/crio mixes in.
 */
export function crioConf(o: CrioConfOptions): string {
  const p = o.paths;
  const s = p.crioStateDir;
  return `# Written by P4ContainerFlow (lib/kubernetes/cluster/config.ts) for one lab's cluster.
[crio]
root = ${q(p.storageRoot)}
runroot = ${q(p.storageRunroot)}
storage_driver = "overlay"
log_dir = ${q(`${s}/pod-logs`)}
version_file = ${q(`${s}/version`)}
version_file_persist = ${q(`${s}/version.persist`)}
clean_shutdown_file = ${q(`${s}/clean.shutdown`)}

[crio.api]
listen = ${q(p.crioSocket)}
stream_address = "127.0.0.1"
stream_port = "0"

[crio.runtime]
default_runtime = "runc"
cgroup_manager = "cgroupfs"
conmon_cgroup = "pod"
# No infra process: it would get oom_score_adj -998, which runc cannot set without
# CAP_SYS_RESOURCE. The pause image is still needed for each sandbox's storage.
drop_infra_ctr = true
# Container checkpoint/restore (the kubelet's checkpoint API, restore from checkpoint images).
enable_criu_support = true
namespaces_dir = ${q(p.crioNamespacesDir)}
pinns_path = ${q(o.binaries.pinns)}
container_exits_dir = ${q(`${s}/exits`)}
container_attach_socket_dir = ${q(`${s}/attach`)}
irqbalance_config_restore_file = "disable"
log_level = "info"

[crio.runtime.runtimes.runc]
runtime_path = ${q(o.binaries.runc)}
runtime_type = "oci"
runtime_root = ${q(p.runcRoot)}
monitor_path = ${q(o.binaries.conmon)}
monitor_cgroup = "pod"

[crio.image]
# No signature_policy on purpose (see above).
pause_image = ${q(o.pauseImage)}

[crio.network]
# The lab's CNI plugin is installed here before CRI-O starts.
network_dir = ${q(p.cniConfDir)}
plugin_dirs = [${[p.cniBinDir, ...(o.systemCniDirs ?? SYSTEM_CNI_DIRS)].map(q).join(", ")}]

[crio.nri]
enable_nri = false
`;
}

/** The KubeletConfiguration (YAML) of the lab's node. */
export function kubeletConfig(paths: ClusterPaths, node: NodeIdentity): string {
  const pki = paths.pkiDir;
  return stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // Kubelets >= 1.35 refuse cgroup v1 (this project's machines) unless told otherwise.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupRoot: node.cgroupRoot,
    containerRuntimeEndpoint: `unix://${paths.crioSocket}`,
    // Only on the node address (the API server's node proxy needs a non-loopback one).
    address: node.nodeIp,
    port: KUBELET_PORT,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: node.ports.kubeletHealthz,
    tlsCertFile: certPath(pki, "kubelet-serving"),
    tlsPrivateKeyFile: keyPath(pki, "kubelet-serving"),
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: certPath(pki, "ca") },
    },
    authorization: { mode: "Webhook" },
    podLogsDir: paths.podLogsDir,
    staticPodPath: "",
    failSwapOn: false,
    maxPods: 30,
    clusterDomain: "cluster.local",
    resolvConf: "/etc/resolv.conf",
    serializeImagePulls: false,
    // Local images only: never collect them while the disk has room.
    imageGCHighThresholdPercent: 95,
    imageGCLowThresholdPercent: 90,
    evictionHard: {
      "memory.available": "200Mi",
      "nodefs.available": "2%",
      "imagefs.available": "2%",
      "nodefs.inodesFree": "2%",
    },
    // Else the kubelet adds KUBE-* chains to the machine's iptables and re-adds them each minute.
    makeIPTablesUtilChains: false,
    featureGates: { ContainerCheckpoint: true },
  });
}

export interface KubeconfigOptions {
  /** The API server's URL ({@link apiServerUrl}). */
  server: string;
  caFile: string;
  user: string;
  certFile: string;
  keyFile: string;
  /** Cluster and context name (default `p4cf`). */
  name?: string;
}

/** A kubeconfig with one cluster, one user (client certificate files) and one context. */
export function kubeconfig(o: KubeconfigOptions): string {
  const name = o.name ?? "p4cf";
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name,
      cluster: { server: o.server, "certificate-authority": o.caFile },
    }],
    users: [{ name: o.user, user: { "client-certificate": o.certFile, "client-key": o.keyFile } }],
    contexts: [{ name, context: { cluster: name, user: o.user } }],
    "current-context": name,
  });
}

/** Every kubeconfig of the cluster: path -> text. */
export function kubeconfigs(paths: ClusterPaths, node: NodeIdentity): Map<string, string> {
  const pki = paths.pkiDir;
  const one = (user: string, stem: string) =>
    kubeconfig({
      server: apiServerUrl(node),
      caFile: certPath(pki, "ca"),
      user,
      certFile: certPath(pki, stem),
      keyFile: keyPath(pki, stem),
    });
  const k = paths.kubeconfigs;
  return new Map([
    [k.admin, one("p4cf-admin", "admin")],
    [k.controllerManager, one("system:kube-controller-manager", "controller-manager")],
    [k.scheduler, one("system:kube-scheduler", "scheduler")],
    [k.kubelet, one(`system:node:${node.nodeName}`, "kubelet-client")],
    [k.migrator, one(MIGRATOR_USER, "migrator")],
  ]);
}

/** A Kubernetes object as the API takes it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

const LABELS = MANAGED_BY_LABELS;

/**
 * The migrator's RBAC: a ClusterRole allowing only `create`/`get` on `nodes/proxy` (the
 * kubelet's checkpoint API is a POST through the API server's node proxy), bound to the user of
 * the migrator's client certificate.
 */
export function rbacObjects(): KubeObject[] {
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: MIGRATOR_ROLE, labels: LABELS },
      rules: [{ apiGroups: [""], resources: ["nodes/proxy"], verbs: ["create", "get"] }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: MIGRATOR_ROLE, labels: LABELS },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: MIGRATOR_ROLE },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: MIGRATOR_USER }],
    },
  ];
}

/** Objects as one multi-document YAML manifest (what `kubectl apply -f` takes). */
export function manifest(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringify(o)).join("---\n");
}

/** The API path of a cluster-scoped object, for server-side apply. */
export function objectPath(obj: KubeObject): string {
  const plural = `${obj.kind.toLowerCase()}s`;
  const base = obj.apiVersion === "v1" ? "/api/v1" : `/apis/${obj.apiVersion}`;
  return `${base}/${plural}/${obj.metadata.name}`;
}
