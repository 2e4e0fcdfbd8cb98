/**
 * Checks that what a lab's state file records still exists and is wired as expected; used by a
 * second `up` (verify, then do nothing) and by `status`.
 *
 * @module
 */
import type { Shell } from "../shell.ts";
import { describeObject, type Inventory, objectExists } from "./objects.ts";
import type { LabState } from "./state.ts";

/** Main pid of a container (0 or undefined when it is not running). */
export async function containerPid(shell: Shell, container: string): Promise<number | undefined> {
  const out = await shell.run(["podman", "inspect", "--format", "{{.State.Pid}}", container], {
    check: false,
  });
  const pid = Number.parseInt(out.stdout.trim(), 10);
  return out.code === 0 && pid > 0 ? pid : undefined;
}

/** Inode of a namespace file, or undefined. */
function nsInode(path: string): number | undefined {
  try {
    return Deno.statSync(path).ino ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Problems with a lab that is recorded as created: missing objects, stopped pods, a pod whose
 * namespace is no longer the attached one (the pod was restarted). Empty when all is well.
 */
export async function findProblems(
  shell: Shell,
  state: LabState,
  inv: Inventory,
): Promise<string[]> {
  const problems: string[] = [];
  for (const obj of state.objects) {
    if (!objectExists(obj, inv)) {
      problems.push(`${describeObject(obj)} is missing`);
      continue;
    }
    if (obj.kind === "pod" && !/^running$/i.test(inv.pods.get(obj.name) ?? "")) {
      problems.push(`pod ${obj.name} is ${inv.pods.get(obj.name) || "not running"}`);
    }
    if (obj.kind === "container" && !/^running$/i.test(inv.containers.get(obj.name) ?? "")) {
      problems.push(`container ${obj.name} is ${inv.containers.get(obj.name) || "not running"}`);
    }
    if (obj.kind === "link" && obj.peer && !inv.links.has(obj.peer)) {
      problems.push(`link ${obj.peer} (peer of ${obj.name}) is missing`);
    }
    if (obj.kind === "netns" && obj.pod) {
      const pid = await containerPid(shell, `${obj.pod}-infra`);
      const attached = nsInode(`/run/netns/${obj.name}`);
      if (pid === undefined) problems.push(`the infra container of pod ${obj.pod} is not running`);
      else if (attached !== nsInode(`/proc/${pid}/ns/net`)) {
        problems.push(
          `netns ${obj.name} is no longer the namespace of pod ${obj.pod} (was the pod restarted?)`,
        );
      }
    }
  }
  return problems;
}
