/**
 * The controller follows the cluster: the switch's backends are kept equal to the slots of the
 * lab's Ready server pods (what a Service's endpoints would be). Scaling the server Deployment
 * adds or removes backends; the controller's per-connection memory keeps existing connections on
 * their backend. While a migration holds the lab it is left alone: the migration moves the
 * backend itself, and in between the old and the new pod are both Ready.
 *
 * The decision is pure ({@link backendChanges}); {@link followPods} applies it on every change
 * of the pods (a watch), and every few seconds anyway.
 *
 * @module
 */
import type { Lab } from "../lab/types.ts";
import { migrateLockPath, runDirOf } from "../lab/paths.ts";
import { lockOwner } from "../pid_lock.ts";
import type { Progress } from "../progress.ts";
import type { ClusterAccess } from "./access.ts";
import { KubeApi, type Pod, podReady } from "./api.ts";
import { readAllocations } from "./cni/state.ts";
import type { Allocations } from "./cni/allocate.ts";
import { labNamespace } from "./namespace.ts";
import { WORKLOAD_LABEL } from "./workloads.ts";

/** What the controller offers the follower (a {@link Controller} in the same process). */
export interface BackendTarget {
  listBackends(): { backends: { host: string }[] };
  addBackend(host: string): Promise<unknown>;
  removeBackend(ref: string): Promise<unknown>;
}

/** Hosts to add and remove so the backends equal the Ready server pods' slots (pure). */
export function backendChanges(
  lab: Lab,
  pods: readonly Pod[],
  allocations: Allocations,
  current: readonly string[],
): { add: string[]; remove: string[] } {
  const servers = new Set(lab.workloads.filter((w) => w.role === "server").map((w) => w.name));
  const slotOf = new Map(Object.entries(allocations).map(([host, a]) => [a.pod, host]));
  const wanted = new Set<string>();
  for (const pod of pods) {
    const workload = pod.metadata.labels?.[WORKLOAD_LABEL];
    const slot = slotOf.get(pod.metadata.name);
    if (workload && servers.has(workload) && slot && podReady(pod)) wanted.add(slot);
  }
  // Never remove the last backend on a transient view (a pod restarting): new connections would
  // have nowhere to go, where an old backend at least answers its existing ones.
  const remove = current.filter((h) => !wanted.has(h));
  const add = [...wanted].filter((h) => !current.includes(h)).sort();
  return { add, remove: wanted.size === 0 ? [] : remove };
}

export interface FollowOptions {
  access: ClusterAccess;
  progress?: Progress;
  signal?: AbortSignal;
  /** Resync period without events (default 5 s). */
  resyncMs?: number;
}

/** Keeps the backends following the pods until `signal` aborts. Errors are logged, not fatal. */
export async function followPods(
  lab: Lab,
  target: BackendTarget,
  options: FollowOptions,
): Promise<void> {
  const runDir = runDirOf(lab);
  const path = `/api/v1/namespaces/${labNamespace(lab)}/pods`;
  const selector = WORKLOAD_LABEL;
  using api = await KubeApi.fromKubeconfig(options.access.kubeconfig);
  const log = (m: string) => options.progress?.warn(m);
  const sync = async () => {
    if (await lockOwner(migrateLockPath(runDir)) !== undefined) return;
    const pods = (await api.list<Pod>(path, { labelSelector: selector })).items;
    const current = target.listBackends().backends.map((b) => b.host);
    const { add, remove } = backendChanges(lab, pods, await readAllocations(runDir), current);
    for (const host of add) await target.addBackend(host);
    for (const host of remove) await target.removeBackend(host);
    if (add.length || remove.length) {
      options.progress?.step(`backends follow the pods: +[${add}] -[${remove}]`)();
    }
  };
  while (!options.signal?.aborted) {
    try {
      await sync();
      // Wake up on the next change of the pods, or after the resync period.
      const watchAbort = AbortSignal.any([
        AbortSignal.timeout(options.resyncMs ?? 5000),
        ...(options.signal ? [options.signal] : []),
      ]);
      for await (const _ of api.watch<Pod>(path, { labelSelector: selector, signal: watchAbort })) {
        await sync();
      }
    } catch (err) {
      if (options.signal?.aborted) break;
      if (!(err instanceof DOMException)) log(`following pods: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
