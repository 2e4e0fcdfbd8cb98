/**
 * Wrong solution: the new pod is created without a reserved slot: the CNI plugin gives it the next free slot of the pool (h4), not the address the archive was rewritten for.
 *
 * Fails: finishes and returns
 */
import { rewriteArchiveAddresses } from "../../../../lib/criu/archive.ts";
import type { PodMigration } from "../../../../lib/exercises/contexts.ts";
import { type Pod, podFailure, podReady } from "../../../../lib/kubernetes/api.ts";
import {
  buildCheckpointImage,
  checkpointContainer,
  restoredPod,
} from "../../../../lib/kubernetes/checkpoint.ts";
import { WORKLOAD_LABEL } from "../../../../lib/kubernetes/workloads.ts";
import { SILENCE_TABLE, silenceArgv } from "../../../../lib/migrate/pod_driver.ts";
import { inNetnsPath } from "../../../../lib/shell.ts";

/** Moves the server pod to a new pod on `m.target`; returns the new pod's name. */
export async function migratePod(m: PodMigration): Promise<string> {
  const source = await m.api.get<Pod>(podPath(m, m.pod));
  const newPod = newPodName(m);
  // The lab's CNI plugin gives the new pod this slot's address: the archive is rewritten for it.
  // The checkpoint leaves the old pod running: from now on nothing it says may reach anyone.
  await m.shell.run(inNetnsPath(m.source.netns, silenceArgv()));
  let created = false;
  try {
    const archive = `${m.dir}/checkpoint.tar`;
    const kubelets = await checkpointContainer(
      m.checkpointApi,
      m.node,
      m.namespace,
      m.pod,
      m.container,
    );
    await Deno.copyFile(kubelets, archive);
    await Deno.remove(kubelets);
    const sockets = await rewriteArchiveAddresses(archive, { from: m.source.ip, to: m.target.ip });
    m.log(`checkpoint: ${sockets} socket(s) ${m.source.ip} -> ${m.target.ip}`);

    const image = `localhost/p4cf-checkpoint-${m.labId}-${newPod}:latest`;
    await buildCheckpointImage(m.shell, m.podman, archive, image, m.container);
    created = true;
    // Without the workload label: the Deployment must not count on it before the switch moves.
    await m.api.create(
      `/api/v1/namespaces/${m.namespace}/pods`,
      restoredPod(source, newPod, image, [WORKLOAD_LABEL]),
    );
    const ready = await waitReady(m, newPod);
    m.log(`${newPod} is Ready at ${ready.status?.podIP}`);
  } catch (err) {
    if (created) await m.api.delete(podPath(m, newPod), { gracePeriodSeconds: 0 });
    await m.shell.run(
      inNetnsPath(m.source.netns, ["nft", "delete", "table", "inet", SILENCE_TABLE]),
    );
    m.log(`rolled back: ${m.pod} is heard again`);
    throw err;
  }

  const change = await m.controller.migrateBackend(m.source.name, m.target.name);
  m.log(`switch: ${change.updates} update(s) in ${change.writeMs.toFixed(1)} ms`);

  // The Deployment adopts the new pod and, one pod too many, would remove the cheapest first.
  await m.api.patch(podPath(m, m.pod), {
    metadata: { annotations: { "controller.kubernetes.io/pod-deletion-cost": "-2147483648" } },
  });
  const label = source.metadata.labels?.[WORKLOAD_LABEL] ?? m.container;
  await m.api.patch(podPath(m, newPod), { metadata: { labels: { [WORKLOAD_LABEL]: label } } });
  await m.api.delete(podPath(m, m.pod), { gracePeriodSeconds: 0 });
  return newPod;
}

/** A pod's API path. */
function podPath(m: PodMigration, name: string): string {
  return `/api/v1/namespaces/${m.namespace}/pods/${name}`;
}

/**
 * A name for the new pod: the workload's prefix (the CNI plugin finds the workload's pool by it)
 * and a suffix of its own.
 */
function newPodName(m: PodMigration): string {
  return `${m.container}-m${Date.now().toString(36)}`;
}

/** Waits until pod `name` is Ready; throws when it cannot run, or after `timeoutMs`. */
async function waitReady(m: PodMigration, name: string, timeoutMs = 60_000): Promise<Pod> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pod = await m.api.get<Pod>(podPath(m, name));
    if (podReady(pod)) return pod;
    const failure = podFailure(pod);
    if (failure) throw new Error(`Restoring ${name} failed: ${failure}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Pod ${name} did not become Ready in ${timeoutMs / 1000} s`);
}
