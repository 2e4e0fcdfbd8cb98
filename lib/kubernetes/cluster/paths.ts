/**
 * Where a lab's cluster keeps everything: one directory under the lab's run directory
 * (`<runDir>/k8s/`), so `down` finds all of it from the run directory alone and removing that
 * directory removes the cluster's state. Pure.
 *
 * ```ts
 * const p = clusterPaths(".run/labs/kubernetes");
 * p.kubeconfigs.admin; // .run/labs/kubernetes/k8s/admin.kubeconfig
 * ```
 *
 * @module
 */
import { fnv1a } from "../../hash.ts";

/** The cluster's components, each a detached process with a pid file and a log. */
export const COMPONENTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  /** The holder of the node's mount namespace (see components.ts). */
  "node-ns",
  "crio",
  "kubelet",
] as const;

export type Component = typeof COMPONENTS[number];

export interface ClusterPaths {
  /** `<runDir>/k8s`: removed as a whole by `down`. */
  root: string;
  /** Certificates and keys (0700; keys 0600). */
  pkiDir: string;
  kubeconfigs: {
    admin: string;
    controllerManager: string;
    scheduler: string;
    kubelet: string;
    /** The client that may only use the kubelet API through the API server's node proxy. */
    migrator: string;
  };
  etcdDir: string;
  crioConf: string;
  crioSocket: string;
  /** CRI-O's pod namespaces (`<dir>/netns/<id>`, bind mounts inside the node namespace). */
  crioNamespacesDir: string;
  /** CRI-O's small state files (version, exits, attach sockets, container logs). */
  crioStateDir: string;
  runcRoot: string;
  /** CRI-O's image and container storage (also what `podman --root` builds images into). */
  storageRoot: string;
  /**
   * The storage's run root, in {@link ClusterPaths.shortDir}: podman refuses run roots longer
   * than 50 characters, which a run directory easily is.
   */
  storageRunroot: string;
  /** Podman's own temporary state when it works on CRI-O's storage. */
  podmanTmp: string;
  /**
   * `/run/p4containerflow/k8s-<hash of the run directory>`: the one directory outside the run
   * directory, for paths that must be short; removed by `down` too.
   */
  shortDir: string;
  /** CNI plugins CRI-O runs (searched first) and the network configurations it reads. */
  cniBinDir: string;
  cniConfDir: string;
  /** The kubelet's --root-dir; checkpoint archives land in its `checkpoints/`. */
  kubeletDir: string;
  checkpointsDir: string;
  kubeletConfig: string;
  podLogsDir: string;
  logsDir: string;
  pidsDir: string;
  /** Mount point of the tmpfs that becomes /sys/fs/cgroup inside the node namespace. */
  cgroupfsDir: string;
  /** Written by the node namespace once its mounts are ready. */
  nodeNsReady: string;
  /** The mount namespace of the node (`mnt:[inode]`), to find its processes later. */
  nodeNsId: string;
  /** Build contexts of the images `up` makes (pause). */
  imagesDir: string;
  /** The RBAC manifest applied by `up` (also for reading). */
  rbacManifest: string;
  /** Lab identity and node address, written first so `down` works from files alone. */
  identity: string;
  /** Processes `up` starts: name, pid file, comm (for `down` after a crash). */
  processes: string;
  /** Sysctl values before the kubelet changed them. */
  sysctlSnapshot: string;
  /** Paths outside the run directory `up` created (and `down` may remove). */
  createdPaths: string;
  /** The cluster's description once it is up (see ClusterInfo). */
  info: string;
}

/** Parent of the clusters' short directories (beside the lab registry's `labs/`). */
export const SHORT_ROOT = "/run/p4containerflow";

/** Every path of the cluster of the lab whose run directory is `runDir`. */
export function clusterPaths(runDir: string): ClusterPaths {
  const dir = runDir.replace(/\/+$/, "");
  const root = `${dir}/k8s`;
  const crio = `${root}/crio`;
  const shortDir = `${SHORT_ROOT}/k8s-${fnv1a(dir).toString(16).padStart(8, "0")}`;
  return {
    root,
    pkiDir: `${root}/pki`,
    kubeconfigs: {
      admin: `${root}/admin.kubeconfig`,
      controllerManager: `${root}/controller-manager.kubeconfig`,
      scheduler: `${root}/scheduler.kubeconfig`,
      kubelet: `${root}/kubelet.kubeconfig`,
      migrator: `${root}/migrator.kubeconfig`,
    },
    etcdDir: `${root}/etcd`,
    crioConf: `${crio}/crio.conf`,
    crioSocket: `${crio}/crio.sock`,
    crioNamespacesDir: `${crio}/ns`,
    crioStateDir: crio,
    runcRoot: `${root}/runc`,
    storageRoot: `${root}/storage`,
    storageRunroot: `${shortDir}/storage`,
    podmanTmp: `${shortDir}/podman`,
    shortDir,
    cniBinDir: `${root}/cni/bin`,
    cniConfDir: `${root}/cni/net.d`,
    kubeletDir: `${root}/kubelet`,
    checkpointsDir: `${root}/kubelet/checkpoints`,
    kubeletConfig: `${root}/kubelet.yaml`,
    podLogsDir: `${root}/pod-logs`,
    logsDir: `${root}/logs`,
    pidsDir: `${root}/pids`,
    cgroupfsDir: `${root}/cgroupfs`,
    nodeNsReady: `${root}/node-ns.ready`,
    nodeNsId: `${root}/node-ns.id`,
    imagesDir: `${root}/images`,
    rbacManifest: `${root}/rbac.yaml`,
    identity: `${root}/identity.json`,
    processes: `${root}/processes.json`,
    sysctlSnapshot: `${root}/sysctl.json`,
    createdPaths: `${root}/created.json`,
    info: `${root}/cluster.json`,
  };
}

/** A component's log file. */
export function logFile(paths: ClusterPaths, component: Component): string {
  return `${paths.logsDir}/${component}.log`;
}

/** A component's pid file. */
export function pidFile(paths: ClusterPaths, component: Component): string {
  return `${paths.pidsDir}/${component}.pid`;
}

/** A component's exit-status file (written by its waiting parent when it ends). */
export function exitFile(paths: ClusterPaths, component: Component): string {
  return `${paths.pidsDir}/${component}.exit`;
}

/**
 * Global podman options that make it work on CRI-O's storage, so `podman build` puts images
 * where CRI-O finds them: `podman ${podmanStorageArgs(p).join(" ")} build -t localhost/x .`
 */
export function podmanStorageArgs(paths: ClusterPaths): string[] {
  return [
    "--root",
    paths.storageRoot,
    "--runroot",
    paths.storageRunroot,
    // The same driver as crio.conf's storage_driver; an own tmpdir keeps podman's state of this
    // store apart from the machine's default store.
    "--storage-driver",
    "overlay",
    "--tmpdir",
    paths.podmanTmp,
  ];
}
