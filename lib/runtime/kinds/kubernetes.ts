/**
 * The Kubernetes runtime: the lab's slots (parking namespaces cabled to BMv2) and switches as in
 * every lab, a single-node cluster of real components started for the lab (or the user's, with
 * `--kubeconfig`), the lab's CNI plugin giving each pod a slot, and the workloads as a
 * Deployment (servers) or a Pod (clients) built from the same FROM-scratch images.
 *
 * @module
 */
import { MissingCapabilityError, UserError } from "../../errors.ts";
import { runDirOf } from "../../lab/paths.ts";
import type { Lab, Workload } from "../../lab/types.ts";
import { labRunDir } from "../../lab/paths.ts";
import {
  type ClusterAccess,
  podLogFile,
  readAccess,
  requireAccess,
  writeAccess,
} from "../../kubernetes/access.ts";
import { KubeApi, KubeApiError, type Pod, podReady } from "../../kubernetes/api.ts";
import { kubernetesMissing } from "../../kubernetes/cluster/binaries.ts";
import { clusterDown } from "../../kubernetes/cluster/down.ts";
import { clusterPaths } from "../../kubernetes/cluster/paths.ts";
import { clusterUp } from "../../kubernetes/cluster/up.ts";
import { readAllocations } from "../../kubernetes/cni/state.ts";
import type { Allocations } from "../../kubernetes/cni/allocate.ts";
import { installCniPlugin } from "../../kubernetes/cni/install.ts";
import {
  workloadObject,
  workloadObjectPath,
  workloadSelector,
} from "../../kubernetes/workloads.ts";
import { labNamespace, namespaceObject } from "../../kubernetes/namespace.ts";
import { readState } from "../../topology/state.ts";
import { buildHostImage } from "../../topology/host_image.ts";
import { down } from "../../topology/teardown.ts";
import { buildWorkloads, type WorkloadPaths } from "../../workloads/build.ts";
import { writePlacements } from "../../workloads/placements.ts";
import {
  resolveProgram,
  substituteCommand,
  workloadImageSpec,
  type WorkloadPlacement,
} from "../../workloads/start.ts";
import type { KindContext, RuntimeKind } from "../kind.ts";
import { topologyUp } from "./switched_topology.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long `up` waits for the workloads' pods to be Ready. */
const READY_TIMEOUT_MS = 120_000;

function programOf(lab: Lab, w: Workload, paths: WorkloadPaths): string {
  const host = lab.hosts.find((h) => h.name === w.host)!;
  return resolveProgram(substituteCommand(w.command, lab, host)[0], paths);
}

/** Creates an object unless it exists (409). */
async function ensureObject(api: KubeApi, collection: string, body: unknown): Promise<boolean> {
  try {
    await api.create(collection, body);
    return true;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 409) return false;
    throw err;
  }
}

/** The collection path an object path belongs to (`…/pods/x` → `…/pods`). */
const collectionOf = (path: string) => path.slice(0, path.lastIndexOf("/"));

/** A workload's pods, oldest first. */
export async function workloadPods(api: KubeApi, lab: Lab, w: Workload): Promise<Pod[]> {
  const list = await api.list<Pod>(`/api/v1/namespaces/${labNamespace(lab)}/pods`, {
    labelSelector: workloadSelector(w),
  });
  return list.items.filter((p) => !p.metadata.deletionTimestamp);
}

async function startCluster(lab: Lab, ctx: KindContext): Promise<ClusterAccess> {
  const runDir = runDirOf(lab);
  const paths = clusterPaths(runDir);
  const info = await clusterUp(lab, {
    ...ctx,
    // CRI-O reads its network configuration when it starts: the plugin must be there first.
    prepareNetwork: async (dirs) => {
      await installCniPlugin({ lab, binDir: dirs.cniBinDir, confDir: dirs.cniConfDir });
    },
  });
  return {
    kubeconfig: info.kubeconfig,
    migratorKubeconfig: info.migratorKubeconfig,
    node: info.nodeName,
    podman: ["podman", ...info.podmanStorageArgs],
    podLogsDir: paths.podLogsDir,
    external: false,
  };
}

async function externalCluster(kubeconfig: string): Promise<ClusterAccess> {
  using api = await KubeApi.fromKubeconfig(kubeconfig);
  const nodes = await api.list<{ metadata: { name: string } }>("/api/v1/nodes");
  const node = nodes.items[0]?.metadata.name;
  if (!node) throw new UserError(`The cluster of ${kubeconfig} has no node`);
  return {
    kubeconfig,
    node,
    podman: ["podman"],
    podLogsDir: "/var/log/pods",
    external: true,
  };
}

export const kubernetesKind: RuntimeKind = {
  name: "kubernetes",

  requires(_lab, options) {
    return options.settings?.kubeconfig ? ["podman"] : ["podman", "criu"];
  },

  async up(lab, ctx, options) {
    const kubeconfig = options.settings?.kubeconfig;
    if (!kubeconfig && !options.topologyOnly) {
      const missing = kubernetesMissing();
      if (missing) {
        throw new MissingCapabilityError(`Cannot bring up lab ${lab.name}: ${missing}`, {
          hint: "use the Vagrant VM (it installs Kubernetes and CRI-O), set P4CF_KUBERNETES_BIN " +
            "to a directory holding them, or give --kubeconfig of a cluster you have",
        });
      }
    }
    const topology = await topologyUp(lab, ctx, options);
    if (options.topologyOnly) return topology;
    const runDir = runDirOf(lab);
    const access = kubeconfig ? await externalCluster(kubeconfig) : await startCluster(lab, ctx);
    await writeAccess(runDir, access);
    const paths = await buildWorkloads({ shell: ctx.shell });
    for (const w of lab.workloads) {
      const program = programOf(lab, w, paths);
      const command = substituteCommand(w.command, lab, lab.hosts.find((h) => h.name === w.host)!);
      const spec = workloadImageSpec(w.image ?? w.name, [program, ...command.slice(1)]);
      await buildHostImage(ctx.shell, spec, ctx.progress, access.podman);
    }
    return topology;
  },

  async startWorkloads(lab, ctx) {
    const runDir = runDirOf(lab);
    const access = await requireAccess(lab);
    using api = await KubeApi.fromKubeconfig(access.kubeconfig);
    await ensureObject(api, "/api/v1/namespaces", namespaceObject(labNamespace(lab)));
    const paths = await buildWorkloads({ shell: ctx.shell });
    // Servers first, so clients find them.
    const ordered = [...lab.workloads].sort((a, b) =>
      a.role === b.role ? 0 : a.role === "server" ? -1 : 1
    );
    const placements: WorkloadPlacement[] = [];
    for (const w of ordered) {
      const done = ctx.progress.step(
        `workload ${w.name}: ${w.role === "client" ? "pod" : "deployment"}`,
      );
      const path = workloadObjectPath(lab, w);
      const created = await ensureObject(
        api,
        collectionOf(path),
        workloadObject(lab, w, programOf(lab, w, paths)),
      );
      const deadline = Date.now() + READY_TIMEOUT_MS;
      let pod: Pod | undefined;
      while (Date.now() < deadline) {
        pod = (await workloadPods(api, lab, w)).find(podReady);
        if (pod) break;
        await sleep(250);
      }
      if (!pod) {
        throw new UserError(
          `The pod of workload ${w.name} did not become Ready in ${READY_TIMEOUT_MS / 1000} s`,
          {
            hint: `see ${access.podLogsDir} and the cluster logs in ${runDir}`,
          },
        );
      }
      const name = pod.metadata.name;
      const slot = Object.entries(await readAllocations(runDir)).find(([, a]) => a.pod === name)
        ?.[0];
      let logFile: string | undefined;
      while (!logFile && Date.now() < deadline) {
        logFile = await podLogFile(access, labNamespace(lab), name, w.name);
        if (!logFile) await sleep(100);
      }
      placements.push({
        name: w.name,
        kind: "container",
        host: slot ?? w.host,
        container: name,
        pod: name,
        logFile: logFile ?? "",
      });
      done(`${created ? "created" : "kept"}, pod ${name} on ${slot ?? "?"}`);
    }
    await writePlacements(runDir, placements);
    return placements;
  },

  async down(lab, options) {
    const runDir = typeof lab === "string" ? labRunDir(lab) : runDirOf(lab);
    const access = await readAccess(runDir).catch(() => undefined);
    if (access?.external) {
      const id = typeof lab === "string" ? (await readState(runDir))?.id : lab.id;
      if (id) {
        using api = await KubeApi.fromKubeconfig(access.kubeconfig);
        await api.delete(`/api/v1/namespaces/${labNamespace({ id })}`, { gracePeriodSeconds: 0 })
          .catch((err) =>
            options.progress?.warn(`could not delete the lab's namespace: ${err.message}`)
          );
      }
    } else {
      await clusterDown(runDir, options);
    }
    await Deno.remove(`${runDir}/kubernetes.json`).catch(() => {});
    return await down(lab, options);
  },

  async netnsOf(lab, host) {
    if (!lab.runDir) return undefined;
    const held = (await readAllocations(lab.runDir).catch((): Allocations => ({})))[host];
    return held?.netns;
  },
};
