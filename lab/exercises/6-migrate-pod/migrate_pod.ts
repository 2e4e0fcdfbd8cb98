// deno-lint-ignore-file require-await no-unused-vars
/**
 * Exercise 6: move the counter server's pod (slot h2, 10.0.2.2) to a new pod on slot h3
 * (10.0.3.3) of a real Kubernetes cluster, while the client pod keeps its four connections.
 *
 * The check (`sudo deno task lab check 6`) brings up lab.yaml (a cluster of its own, ~15 s),
 * calls migratePod() (PodMigration in lib/exercises/contexts.ts) twice and watches: first with a
 * target address that the slot does not have, so the restore fails and your function must put
 * everything back and throw; then for real. It notes when you ask for the checkpoint and whether
 * the old pod sends anything from then on, whether the new pod is Ready when you move the switch,
 * what is left afterwards, and the client's answers.
 *
 * The moves, in no particular order (finding the order is the exercise; README.md explains the
 * tools):
 *   - move the switch's backend from the old slot to the new one (m.controller);
 *   - make the old pod unheard (lib/migrate/pod_driver.ts: silenceArgv, in m.source.netns);
 *   - make the old pod heard again;
 *   - create the new pod from a checkpoint image of the rewritten archive;
 *   - checkpoint the old pod's container through the kubelet (m.checkpointApi), and keep the
 *     archive in m.dir;
 *   - delete the old pod, without a grace period;
 *   - hand the new pod to the server Deployment (its label), so that it counts it as its own;
 *   - reserve the target slot for the new pod's name, and release the reservation;
 *   - rewrite the sockets' addresses in the archive;
 *   - wait until the new pod is Ready (waitReady below), or fails;
 *   - when a step fails: undo what was made, and throw.
 * Return the new pod's name.
 */
import type { PodMigration } from "../../../lib/exercises/contexts.ts";
import { type Pod, podFailure, podReady } from "../../../lib/kubernetes/api.ts";

/** Moves the server pod to a new pod on `m.target`; returns the new pod's name. */
export async function migratePod(m: PodMigration): Promise<string> {
  throw new Error("migratePod() is not written yet: see README.md");
}

/** A pod's API path, for m.api.get, patch and delete. */
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
