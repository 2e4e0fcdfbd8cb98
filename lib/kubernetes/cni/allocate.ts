/**
 * Which slot a pod gets, as a pure function of the lab, the current allocations and the
 * reservations. Keeping the choice pure makes its rules (a reservation wins; otherwise the
 * workload's pool in order, skipping slots held or reserved by other pods) testable without root,
 * and the state files' formats are defined once, here.
 *
 * @module
 */
import type { Host, Lab, Workload } from "../../lab/types.ts";
import { CNI_CODES, CniError, type PodRef } from "./args.ts";

/** One slot held by one pod sandbox. */
export interface Allocation {
  pod: string;
  namespace: string;
  /** The runtime's container id (the pod sandbox): ADD and DEL name a slot's holder by it. */
  containerId: string;
  /** The pod's network namespace path as CNI_NETNS gave it. */
  netns: string;
  /** Name of the slot's interface inside the pod (CNI_IFNAME). */
  ifname: string;
}

/** `<runDir>/cni/allocations.json`: slot (host name) → its holder. */
export type Allocations = Record<string, Allocation>;

/** `<runDir>/cni/reservations.json`: pod name → the slot (host name) it must get. */
export type Reservations = Record<string, string>;

/** The plugin's directory in a lab's run directory. */
export function cniDir(runDir: string): string {
  return `${runDir}/cni`;
}

/** Which pod holds which slot. */
export function allocationsPath(runDir: string): string {
  return `${cniDir(runDir)}/allocations.json`;
}

/** Which slot a pod must get (written before the pod is created, e.g. by a migration). */
export function reservationsPath(runDir: string): string {
  return `${cniDir(runDir)}/reservations.json`;
}

/** The lock file serialising changes to the two files above. */
export function cniLockPath(runDir: string): string {
  return `${cniDir(runDir)}/lock`;
}

/** One line per plugin call. */
export function cniLogPath(runDir: string): string {
  return `${cniDir(runDir)}/cni.log`;
}

/** Why a pod got its slot. */
export type SlotReason =
  /** Its container already held the slot (a repeated ADD). */
  | "existing"
  /** The reservations file named the slot for the pod. */
  | "reservation"
  /** The first free slot of its workload's pool. */
  | "pool";

export interface SlotChoice {
  host: Host;
  reason: SlotReason;
  /** The workload whose pool the slot came from (reason "pool"). */
  workload?: string;
}

/** The slot a container holds, if any. */
export function slotOf(allocations: Allocations, containerId: string): string | undefined {
  return Object.entries(allocations).find(([, a]) => a.containerId === containerId)?.[0];
}

/**
 * The workload a pod belongs to: the one named like the pod, or whose name followed by `-`
 * starts the pod's name (Deployment pods are `<workload>-<hash>-<rand>`); the longest name wins.
 */
export function workloadOfPod(lab: Lab, podName: string): Workload | undefined {
  return lab.workloads
    .filter((w) => podName === w.name || podName.startsWith(`${w.name}-`))
    .sort((a, b) => b.name.length - a.name.length)[0];
}

function describeHolder(a: Allocation): string {
  return a.namespace ? `${a.namespace}/${a.pod}` : a.pod;
}

function describePod(pod: PodRef): string {
  return pod.namespace ? `${pod.namespace}/${pod.name}` : pod.name;
}

function slotHost(lab: Lab, name: string): Host | undefined {
  return lab.hosts.find((h) => h.name === name && h.kind === "slot");
}

/**
 * Chooses the slot for a pod's container: the slot it already holds; else its reservation; else
 * the first slot of its workload's pool (`workload.hosts`) that no other pod holds or has
 * reserved.
 *
 * ```ts
 * const { host } = chooseSlot(lab, allocations, reservations, pod, containerId);
 * ```
 *
 * @throws {CniError} 102 for a reservation naming no slot or a slot another pod holds; 101 for
 * a pod that matches no workload; 100 when every slot of the pool is taken.
 */
export function chooseSlot(
  lab: Lab,
  allocations: Allocations,
  reservations: Reservations,
  pod: PodRef,
  containerId: string,
): SlotChoice {
  const held = slotOf(allocations, containerId);
  const heldHost = held === undefined ? undefined : slotHost(lab, held);
  if (heldHost) return { host: heldHost, reason: "existing" };

  const reserved = reservations[pod.name];
  if (reserved !== undefined) {
    const host = slotHost(lab, reserved);
    if (!host) {
      throw new CniError(
        CNI_CODES.badReservation,
        `Pod ${
          describePod(pod)
        } is reserved slot ${reserved}, which is not a slot of lab ${lab.name}`,
        `slots: ${lab.hosts.filter((h) => h.kind === "slot").map((h) => h.name).join(", ")}; ` +
          "release the reservation (releaseReservation) and reserve an existing slot",
      );
    }
    const holder = allocations[host.name];
    if (holder) {
      throw new CniError(
        CNI_CODES.badReservation,
        `Pod ${describePod(pod)} is reserved slot ${host.name}, but pod ${
          describeHolder(holder)
        } holds it`,
        `delete pod ${holder.pod} first, or reserve another slot for ${pod.name}`,
      );
    }
    return { host, reason: "reservation" };
  }

  const workload = workloadOfPod(lab, pod.name);
  if (!workload) {
    throw new CniError(
      CNI_CODES.noWorkload,
      `Pod ${describePod(pod)} belongs to no workload of lab ${lab.name} (workloads: ${
        lab.workloads.map((w) => w.name).join(", ")
      }), so it has no slot pool`,
      "name the pod after a workload (<workload> or <workload>-...), or reserve a slot for it " +
        "in the lab's cni/reservations.json (reserveSlot)",
    );
  }
  const pool = workload.hosts ?? [workload.host];
  const reservedBy = new Map(Object.entries(reservations).map(([p, h]) => [h, p]));
  for (const name of pool) {
    const host = slotHost(lab, name);
    if (!host || allocations[name]) continue;
    const other = reservedBy.get(name);
    if (other !== undefined && other !== pod.name) continue;
    return { host, reason: "pool", workload: workload.name };
  }
  const taken = pool.map((name) => {
    const a = allocations[name];
    if (a) return `${name} by ${describeHolder(a)}`;
    const r = reservedBy.get(name);
    return r !== undefined ? `${name} reserved for ${r}` : `${name} is not a slot`;
  });
  throw new CniError(
    CNI_CODES.noFreeSlot,
    `No free slot for pod ${describePod(pod)}: every slot of workload ${workload.name}'s pool is ` +
      `taken (${taken.join(", ")})`,
    `delete a pod of ${workload.name} or scale it down, or add slots to workloads.${workload.name}` +
      `.hosts in ${lab.file} and run \`deno task lab up\` again`,
  );
}

/** The allocations with `host` given to `allocation` (a new object; the input is unchanged). */
export function allocate(
  allocations: Allocations,
  host: string,
  allocation: Allocation,
): Allocations {
  return { ...allocations, [host]: allocation };
}

/** The allocations without the container's slot, and which slot that was (if any). */
export function release(
  allocations: Allocations,
  containerId: string,
): { allocations: Allocations; host?: string } {
  const host = slotOf(allocations, containerId);
  if (host === undefined) return { allocations };
  const { [host]: _gone, ...rest } = allocations;
  return { allocations: rest, host };
}
