/**
 * Exercise 6's judges: what the grader saw of a student's pod migration (ex6_pod_watch.ts)
 * turned into verdicts. Pure, tested without a cluster.
 *
 * @module
 */
import type { PodSlot } from "./contexts.ts";
import type { KubeCall, PodLook, PodView } from "./ex6_pod_watch.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import type { SwitchCall } from "./migration_watch.ts";

/** Everything observed around one run of the student's `migratePod`. */
export interface PodRunRecord {
  source: PodSlot;
  target: PodSlot;
  /** The pod that was to move, its workload (its Deployment's label), and the client's pod. */
  oldPod: string;
  workload: string;
  clientPod: string;
  /** When the function was called and when it returned or threw (unix ms). */
  startedAt: number;
  endedAt: number;
  kubeCalls: readonly KubeCall[];
  switchCalls: readonly SwitchCall<PodLook>[];
  /** Packets the old pod had sent when the function ended (undefined: its namespace is gone). */
  endTx?: number;
  /** The look once the client had time to talk. */
  after: PodLook;
  /** The slot the CNI plugin gave each pod the function created. */
  createdSlots?: Record<string, string>;
  /**
   * Set when the client had no working connection when the function was called (an earlier run
   * lost them): why no connection could travel.
   */
  clientLost?: Verdict;
}

const rel = (r: { startedAt: number }, t: number | undefined) =>
  t === undefined ? "?" : `+${Math.max(0, t - r.startedAt).toFixed(0)} ms`;

/** One line with the order of the student's calls: `checkpoint +40 ms · create ... · switch`. */
export function describePodTimeline(r: PodRunRecord): string {
  const events: [number, string][] = r.kubeCalls.map((c) => [
    c.at,
    c.kind === "checkpoint" ? `checkpoint ${c.pod}` : `${c.kind.replace("-pod", "")} ${c.pod}`,
  ]);
  for (const s of r.switchCalls) events.push([s.at, `switch ${s.call}`]);
  events.push([r.endedAt, "returned"]);
  return events.sort((a, b) => a[0] - b[0]).map(([t, what]) => `${what} ${rel(r, t)}`)
    .join(" · ");
}

/** The address the check's first run gives as the target's: one the slot does not have. */
export function faultyAddress(ip: string): string {
  const parts = ip.split(".");
  parts[3] = parts[3] === "77" ? "78" : "77";
  return parts.join(".");
}

const pods = (look: PodLook, except: readonly string[]) =>
  look.pods.filter((p) => !except.includes(p.name) && !p.deleting);

/** What the grader saw around the first run, whose restore had to fail. */
export interface FaultRunRecord extends PodRunRecord {
  /** What the function threw (undefined: it returned `returned`). */
  error?: string;
  returned?: unknown;
  /** The VIP's backends (hosts) once it ended. */
  backends: string[];
  /** The client's connections answered again after it ended, of all, and how soon. */
  answeredAgain: { kept: number; total: number; worstMs: number };
}

/**
 * Judges the rollback: the function reached the restore, saw it fail, removed the new pod and
 * the reservation, never moved the switch, let the old pod be heard again, and threw.
 */
export function judgeRollback(r: FaultRunRecord): Verdict {
  const created = r.kubeCalls.find((c) => c.kind === "create-pod");
  if (!created) {
    return fail(
      r.error !== undefined
        ? `migratePod() threw before it created the restored pod: ${firstLine(r.error)}`
        : `migratePod() returned ${JSON.stringify(r.returned)} without creating a pod`,
      "this first run gives a target address the target slot does not have, so the restore " +
        "fails; a migration that gets that far must put everything back and throw",
    );
  }
  if (r.error === undefined) {
    return fail(
      `migratePod() returned ${JSON.stringify(r.returned)}, but the restored pod ` +
        `${created.pod} could not run (its sockets were rewritten for ${r.target.ip}, an ` +
        "address the slot does not have)",
      "a restore can fail: watch the new pod's status until it is Ready, and give up when it " +
        "says it cannot run",
    );
  }
  if (r.switchCalls.length) {
    return fail(
      `the switch was moved (${r.switchCalls[0].call}) although the restore failed: the ` +
        `VIP's connections went to ${r.target.name}, where nothing serves them`,
      "the switch moves only once the new pod is Ready",
    );
  }
  const left = pods(r.after, [r.oldPod, r.clientPod]);
  if (left.length) {
    return fail(
      `migratePod() threw (${firstLine(r.error)}) but left pod ` +
        left.map(describePod).join(", "),
      "what the migration created must go when it gives up",
    );
  }
  const reserved = Object.entries(r.after.reservations);
  if (reserved.length) {
    return fail(
      `migratePod() threw (${firstLine(r.error)}) but left slot ${
        reserved[0][1]
      } reserved for pod ` +
        `${reserved[0][0]}: no other pod can take it`,
      "a reservation outlives its pod until it is released (lib/kubernetes/cni/state.ts)",
    );
  }
  const { kept, total, worstMs } = r.answeredAgain;
  if (kept < total) {
    return fail(
      `after migratePod() threw, the old pod answered ${kept} of the client's ${total} ` +
        "connections again: it is still not heard",
      "the old pod never stopped running (the checkpoint leaves it running); what did your " +
        "migration do to it that must be undone?",
    );
  }
  if (!r.backends.includes(r.source.name)) {
    return fail(
      `the VIP's backends are ${r.backends.join(", ") || "none"}: ${r.source.name} is not one`,
      "the switch must be left as it was",
    );
  }
  return pass(
    `migratePod() threw "${firstLine(r.error)}"; pod ${created.pod} removed, nothing ` +
      `reserved, the switch untouched, the old pod answered all ${total} connections again ` +
      `within ${worstMs.toFixed(0)} ms`,
  );
}

/** An error's first line, cut to 160 characters (runtime errors carry whole logs). */
function firstLine(error: string): string {
  const line = error.split("\n")[0];
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

function describePod(p: PodView): string {
  const state = p.deleting
    ? "being deleted"
    : p.ready
    ? "Ready"
    : firstLine(p.failure ?? p.phase ?? "?");
  return `${p.name} (${state})`;
}

/** The old pod sent nothing from the checkpoint request until it was deleted. */
export function judgeSilence(r: PodRunRecord): Verdict {
  const checkpoint = r.kubeCalls.find((c) => c.kind === "checkpoint");
  if (!checkpoint) {
    return fail(
      "migratePod() never asked the kubelet for a checkpoint",
      "the kubelet checkpoint API (lib/kubernetes/checkpoint.ts) is reached through " +
        "m.checkpointApi",
    );
  }
  if (checkpoint.sourceTx === undefined) {
    return fail(`the old pod's network namespace was gone at the checkpoint request`);
  }
  const deletion = r.kubeCalls.find((c) =>
    c.kind === "delete-pod" && c.pod === r.oldPod && c.at >= checkpoint.at &&
    c.sourceTx !== undefined
  );
  const end = deletion?.sourceTx ?? r.endTx;
  const until = deletion ? `its deletion (${rel(r, deletion.at)})` : "the end of migratePod()";
  if (end === undefined) {
    return fail(
      "the old pod's namespace was gone before the check could read it again (deleted by " +
        "something else than m.api?)",
      "delete the old pod through m.api",
    );
  }
  const sent = end - checkpoint.sourceTx;
  if (sent > 0) {
    return fail(
      `the old pod sent ${sent} TCP packet(s) from the service port between your checkpoint ` +
        `request (${
          rel(r, checkpoint.at)
        }) and ${until}: what it answered after the checkpoint is ` +
        "not in the checkpoint, so the restored pod and the client no longer agree on the " +
        "connection (and a pod that is deleted while it can be heard closes its connections)",
      "the kubelet checkpoint API leaves the container running; what must happen to the old " +
        "pod before it is checkpointed?",
    );
  }
  return pass(`no packet from the checkpoint request (${rel(r, checkpoint.at)}) to ${until}`);
}

/** The switch moved only once the new pod on the target slot was Ready and held the client. */
export function judgeSwitchAfterReady(r: PodRunRecord): Verdict {
  const first = r.switchCalls[0];
  if (!first) {
    return fail(
      `the switch was never asked to move the backend, so the VIP still leads to ${r.source.name}`,
      "the lab's controller owns the switch; it is in the migration context you receive",
    );
  }
  const holder = first.before.slots[r.target.name];
  const pod = first.before.pods.find((p) => p.name === holder);
  const timeline = describePodTimeline(r);
  if (!pod) {
    return fail(
      `the switch was changed at ${rel(r, first.at)} (${first.call}), when no pod held ` +
        `${r.target.name} yet; ${timeline}`,
      `a client packet reaching ${r.target.name} before the restored sockets exist is answered ` +
        "with a reset, which ends the connection: when is the new pod ready to take over?",
    );
  }
  if (!pod.ready) {
    return fail(
      `the switch was changed at ${rel(r, first.at)} (${first.call}), when pod ${pod.name} on ` +
        `${r.target.name} was not Ready (${firstLine(pod.failure ?? pod.phase ?? "?")}); ` +
        timeline,
      "a pod that exists is not yet a restored pod: the runtime restores its container with " +
        "the connections, and only a Ready pod has them; wait for it",
    );
  }
  const server = first.before.target.find((s) => s.listening && s.clientConnections > 0);
  if (!server && r.clientLost) return r.clientLost;
  if (!server) {
    return fail(
      `pod ${pod.name} was Ready when the switch moved (${rel(r, first.at)}), but no server ` +
        `on ${r.target.name} held the client's connections`,
      "the new pod must be created from the checkpoint (the checkpoint image), not started anew",
    );
  }
  return pass(
    `at ${rel(r, first.at)} pod ${pod.name} was Ready on ${r.target.name}, pid ${server.pid} ` +
      `holding ${server.clientConnections} connection(s)`,
  );
}

/** The returned pod runs on the target slot at its address, holding the client's connections. */
export function judgeNewPod(r: PodRunRecord, returned: unknown): Verdict {
  if (typeof returned !== "string" || returned === "") {
    return fail(
      `it returned ${JSON.stringify(returned)}, not a pod's name`,
      "return the name of the pod you created",
    );
  }
  const pod = r.after.pods.find((p) => p.name === returned);
  if (!pod) {
    return fail(
      `there is no pod ${returned}` +
        (r.after.slots[r.target.name]
          ? ` (${r.target.name} is held by ` +
            `${r.after.slots[r.target.name]})`
          : ""),
      "return the name of the pod you created",
    );
  }
  if (!pod.ready || pod.deleting) {
    return fail(`pod ${describePod(pod)} is not running`, "see its events: `lab check 6 --keep`");
  }
  if (r.after.slots[r.target.name] !== returned || pod.ip !== r.target.ip) {
    const slot = Object.entries(r.after.slots).find(([, p]) => p === returned)?.[0];
    return fail(
      `pod ${returned} holds ${slot ?? "no slot"} (${pod.ip ?? "no address"}), not ` +
        `${r.target.name} (${r.target.ip})`,
      "the lab's CNI plugin gives a new pod the next free slot of its pool unless a slot is " +
        "reserved for its name before it is created",
    );
  }
  const server = r.after.target.find((s) => s.listening);
  if ((!server || server.clientConnections === 0) && r.clientLost) return r.clientLost;
  if (!server || server.clientConnections === 0) {
    return fail(
      `pod ${returned} runs at ${pod.ip} but ` +
        (server
          ? `its server (pid ${server.pid}) holds none of the client's connections`
          : "nothing listens in it"),
      "the connections travel in the checkpoint: restore it, do not start the server anew",
    );
  }
  return pass(
    `pod ${returned} is Ready at ${pod.ip} (${r.target.name}); pid ${server.pid} holds ` +
      `${server.clientConnections} of the client's connections`,
  );
}

/** The old pod is gone, and the Deployment runs the new pod and no other. */
export function judgeHandover(r: PodRunRecord, newPod: unknown): Verdict {
  const old = r.after.pods.find((p) => p.name === r.oldPod && !p.deleting);
  if (old) {
    return fail(
      `the old pod ${describePod(old)} still exists` +
        (r.after.slots[r.source.name] === r.oldPod ? `, holding ${r.source.name}` : ""),
      "once the switch points at the new pod, the old one has done its job: delete it, " +
        "without a grace period (its connections live on elsewhere)",
    );
  }
  const deployment = r.after.pods.filter((p) => p.workload === r.workload && !p.deleting);
  const others = deployment.filter((p) => p.name !== newPod);
  if (others.length || !deployment.length) {
    return fail(
      `the server Deployment's pods are ${deployment.map(describePod).join(", ") || "none"}` +
        (others.length
          ? `: it made ${others.map((p) => p.name).join(", ")} to replace the old pod, as ` +
            `${newPod} is not one of its own`
          : ""),
      "a Deployment keeps its number of pods among those its selector (a label) matches; " +
        "the restored pod was created without that label, so that nothing counts on it " +
        "before the switch moves",
    );
  }
  const owner = deployment[0].owners.join(", ") || "not yet owned";
  return pass(`${r.oldPod} is gone; the Deployment's pod is ${newPod} (${owner})`);
}

/** Nothing the migration made is left: reservations, other pods, the kubelet's archive. */
export function judgeNothingLeft(
  r: PodRunRecord,
  newPod: unknown,
  kubeletArchives: readonly string[],
): Verdict {
  const reserved = Object.entries(r.after.reservations);
  if (reserved.length) {
    return fail(
      `slot ${reserved[0][1]} is still reserved for pod ${reserved[0][0]}: no other pod can ` +
        "take it from the pool",
      "release a reservation once its pod holds the slot",
    );
  }
  const left = r.after.pods.filter((p) =>
    p.name !== newPod && p.name !== r.clientPod && !p.deleting
  );
  if (left.length) {
    return fail(
      `pod ${left.map(describePod).join(", ")} is left`,
      "the lab should end with the client's pod and the new server pod",
    );
  }
  if (kubeletArchives.length) {
    return fail(
      `the kubelet's checkpoint archive ${kubeletArchives.join(", ")} is left on the node: it ` +
        "holds the server's whole memory",
      "copy the archive into m.dir (0700) and remove the kubelet's",
    );
  }
  return pass("no reservation, no other pod, no checkpoint archive left on the node");
}

/**
 * Why the function threw, when the pod it created could not be restored: the error, and what the
 * grader knows of the cause (the slot the pod was given).
 */
export function judgeFailedMigration(r: PodRunRecord, error: string, hint?: string): Verdict {
  const created = r.kubeCalls.find((c) => c.kind === "create-pod");
  const slot = created ? r.createdSlots?.[created.pod] : undefined;
  const said = `migratePod() failed: ${firstLine(error)}`;
  if (!created || !/restor/i.test(error)) return fail(said, hint);
  if (slot && slot !== r.target.name) {
    return fail(
      `${said} (pod ${created.pod} was given slot ${slot}, not ${r.target.name}: its sockets, ` +
        `rewritten for ${r.target.ip}, had no address to be restored at)`,
      "the lab's CNI plugin gives a new pod the next free slot of its pool unless a slot is " +
        "reserved for its name before it is created",
    );
  }
  return fail(
    `${said} (pod ${created.pod} holds ${slot ?? "its slot"}, ${r.target.ip})`,
    "CRIU restores each socket at the address the checkpoint says; which address does the new " +
      "pod have?",
  );
}
