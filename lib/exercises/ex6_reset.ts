/**
 * Exercise 6's lab, kept up by an earlier check (`--keep`), made new again without a new cluster
 * (which takes the machine's one Kubernetes lab for ~15 s more): every pod goes, the server
 * Deployment's pod is made again on its first slot, the client pod anew (fresh connections, a
 * fresh log), and the switch's backend follows the server pod back.
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { requireAccess } from "../kubernetes/access.ts";
import { KubeApi, type Pod } from "../kubernetes/api.ts";
import { clusterPaths } from "../kubernetes/cluster/paths.ts";
import { readAllocations, readReservations, releaseReservation } from "../kubernetes/cni/state.ts";
import { labNamespace } from "../kubernetes/namespace.ts";
import { workloadObjectPath } from "../kubernetes/workloads.ts";
import type { Lab } from "../lab/types.ts";
import { runDirOf } from "../lab/paths.ts";
import type { Progress } from "../progress.ts";
import { kubernetesKind } from "../runtime/kinds/kubernetes.ts";
import type { Shell } from "../shell.ts";
import { sleep } from "./check_context.ts";

async function until(what: string, timeoutMs: number, done: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`The kept lab did not reset: ${what}`);
    await sleep(200);
  }
}

/** Makes a running exercise-6 lab's workloads as `lab up` left them. */
export async function resetPodLab(
  lab: Lab,
  options: { shell: Shell; progress: Progress },
): Promise<void> {
  const runDir = runDirOf(lab);
  const namespace = labNamespace(lab);
  const access = await requireAccess(lab);
  using api = await KubeApi.fromKubeconfig(access.kubeconfig);
  const server = lab.workloads.find((w) => w.role === "server")!;
  const deployment = workloadObjectPath(lab, server);
  // No replacement while the old pods go: it would take whichever slot is free first.
  await api.patch(deployment, { spec: { replicas: 0 } });
  const pods = `/api/v1/namespaces/${namespace}/pods`;
  for (const pod of (await api.list<Pod>(pods)).items) {
    await api.delete(`${pods}/${pod.metadata.name}`, { gracePeriodSeconds: 0 });
  }
  for (const pod of Object.keys(await readReservations(runDir))) {
    await releaseReservation(runDir, pod);
  }
  await until("pods still exist", 30_000, async () => (await api.list(pods)).items.length === 0);
  await until(
    "slots still held",
    15_000,
    async () => Object.keys(await readAllocations(runDir)).length === 0,
  );
  // The kubelet keeps a deleted pod's log directory for a while; the new client pod has the old
  // one's name, and its log must be the one the check reads.
  for await (const e of Deno.readDir(access.podLogsDir)) {
    if (e.name.startsWith(`${namespace}_`)) {
      await Deno.remove(`${access.podLogsDir}/${e.name}`, { recursive: true });
    }
  }
  // Checkpoint archives an earlier check left on the node (the server's whole memory).
  const archives = clusterPaths(runDir).checkpointsDir;
  const left = await Array.fromAsync(Deno.readDir(archives)).catch(() => []);
  for (const e of left) await Deno.remove(`${archives}/${e.name}`, { recursive: true });
  await api.patch(deployment, { spec: { replicas: 1 } });
  await kubernetesKind.startWorkloads(lab, {
    shell: options.shell,
    progress: options.progress,
    record: () => Promise.resolve(),
  });
  // The controller follows the Ready server pod back to its first slot.
  const controller = await ControllerApi.forLab(lab);
  await until(`backends did not follow to ${server.host}`, 15_000, async () => {
    const hosts = (await controller.backends()).backends.map((b) => b.host);
    return hosts.length === 1 && hosts[0] === server.host;
  });
}
