/**
 * What a lab's cluster offers its user ({@link ClusterInfo}), as `up` returns it and leaves it in
 * the run directory (`k8s/cluster.json`) for later commands.
 *
 * @module
 */
import { apiServerUrl, type NodeIdentity, PAUSE_IMAGE } from "./config.ts";
import { type ClusterPaths, clusterPaths, podmanStorageArgs } from "./paths.ts";

/** What the lab needs to use its cluster. */
export interface ClusterInfo {
  /** Admin kubeconfig (system:masters). */
  kubeconfig: string;
  /** Kubeconfig allowed only `nodes/proxy` (the kubelet's checkpoint API through the API server). */
  migratorKubeconfig: string;
  apiServer: string;
  nodeName: string;
  nodeIp: string;
  /** CRI-O's socket (`crictl --runtime-endpoint unix://<socket>`). */
  crioSocket: string;
  /** `podman <these> build ...` builds images into CRI-O's storage. */
  podmanStorageArgs: string[];
  /** Where the lab's CNI plugin and network configuration go. */
  cniBinDir: string;
  cniConfDir: string;
  /** Namespace for the lab's pods (exists, with its default service account). */
  namespace: string;
  /** Where the kubelet's checkpoint API writes archives. */
  checkpointsDir: string;
  pauseImage: string;
}

/** Reads the description `up` wrote (undefined when the cluster never came up). */
export async function readClusterInfo(runDir: string): Promise<ClusterInfo | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(clusterPaths(runDir).info)) as ClusterInfo;
  } catch {
    return undefined;
  }
}

/** The description of a cluster with these paths and node. */
export function clusterInfo(paths: ClusterPaths, node: NodeIdentity): ClusterInfo {
  return {
    kubeconfig: paths.kubeconfigs.admin,
    migratorKubeconfig: paths.kubeconfigs.migrator,
    apiServer: apiServerUrl(node),
    nodeName: node.nodeName,
    nodeIp: node.nodeIp,
    crioSocket: paths.crioSocket,
    podmanStorageArgs: podmanStorageArgs(paths),
    cniBinDir: paths.cniBinDir,
    cniConfDir: paths.cniConfDir,
    namespace: node.namespace,
    checkpointsDir: paths.checkpointsDir,
    pauseImage: PAUSE_IMAGE,
  };
}
