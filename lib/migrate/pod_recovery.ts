/**
 * A Kubernetes pod's part of a recovery (lib/migrate/recovery.ts). The source pod never stops
 * during a pod migration (the kubelet checkpoints with --leave-running; the source is only
 * silenced), so a recovery never restores anything: it finishes when the restored pod is Ready
 * (the switch is pointed at it, the ReplicaSet adopts it, the source goes), and otherwise rolls
 * back (the restored pod, if any, is deleted, the reservation released, the source heard again).
 *
 * @module
 */
import { settleLabPodmanCommands } from "../runtime/orphan_commands.ts";
import type { JournalRecord } from "./journal.ts";
import type { PodDriver, PodPair } from "./pod_driver.ts";
import type { RecoverOptions, RecoveryFacts, Subject } from "./recovery.ts";

/** What a recovery found, in the terms of every kind (pure). */
export function podFacts(pair: PodPair, rollback: boolean): RecoveryFacts {
  // A restored pod that is Ready serves the moved connections once the switch points at it; a
  // rollback begun means the migration had given it up.
  if (pair.target === "ready" && !rollback) {
    return { running: "target", checkpointComplete: true, rollback };
  }
  if (pair.source) return { running: "source", checkpointComplete: false, rollback };
  if (pair.target === "ready") return { running: "target", checkpointComplete: true, rollback };
  return { running: undefined, checkpointComplete: false, rollback };
}

export function podSubject(
  j: JournalRecord,
  driver: PodDriver,
  options: RecoverOptions,
  settleMs: number,
): Subject {
  return {
    driver,
    async settle() {
      // The checkpoint image is built by podman: let a build the migration left finish.
      const waited = await settleLabPodmanCommands(options.runDir, options.labId, {
        timeoutMs: settleMs,
      });
      return waited.length ? [`waited for Podman command(s) pid ${waited.join(", ")}`] : [];
    },
    async facts(rollback) {
      return podFacts(await driver.inspectPair(), rollback);
    },
    adoptTarget: () => Promise.resolve(`${driver.newPod} is Ready on ${j.to.name}`),
    async resumeSource() {
      return await driver.restoreOnSource();
    },
    pid: () => undefined,
    pod: (side) => side === "target" ? driver.newPod : j.source.pod!,
  };
}
