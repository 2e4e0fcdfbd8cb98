/**
 * `lab recover`: a lab whose migration was interrupted (its `migrate` killed, or its machine's
 * process killed mid-way) is brought back to one consistent state from the migration's journal
 * (lib/migrate/journal.ts): the workload runs on the source or on the target, the switch points
 * at it, no CRIU lock is left, and the lab's placements say where it runs. `lab up` runs it
 * first when a journal is there and the migration holding it is dead.
 *
 * A recovery takes the lab's migration lock (so it never races a live migration, `lab down` or
 * another recovery), writes the journal before each step as the migration did, and removes it
 * when done; run again, it finds nothing to do. Its report, with what the lab's client saw, is
 * also written to `recovery.json` in the migration's checkpoint directory.
 *
 * ```ts
 * const report = await recoverLab(lab);
 * console.log(report.outcome, report.actions);
 * ```
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { UserError } from "../errors.ts";
import { migrateLockPath, runDirOf } from "../lab/paths.ts";
import type { Host, Lab } from "../lab/types.ts";
import { openClusterClients, podLogFile } from "../kubernetes/access.ts";
import { labNamespace } from "../kubernetes/namespace.ts";
import { labPodDriver } from "../migrate/pod_driver.ts";
import { type ClientVerdict, clientVerdict } from "../migrate/client_verdict.ts";
import {
  journalPath,
  type JournalRecord,
  MigrationJournal,
  readJournal,
} from "../migrate/journal.ts";
import { recoverMigration, type RecoveryOutcome } from "../migrate/recovery.ts";
import { netnsInode } from "../migrate/recovery_probes.ts";
import { acquireLock, lockOwner } from "../pid_lock.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { readPlacements, writePlacements } from "../workloads/placements.ts";

export interface LabRecoveryReport {
  lab: string;
  /**
   * `nothing-to-do`: no journal; `stale`: the journal of a lab that has been brought down and up
   * since (its namespaces are new), removed; otherwise how the migration ended.
   */
  outcome: "nothing-to-do" | "stale" | RecoveryOutcome;
  /** The journal as found. */
  journal?: JournalRecord;
  /** What the recovery did, in order. */
  actions: string[];
  /** Where the workload runs now. */
  host?: string;
  /** Process workloads: its pid now. */
  pid?: number;
  /** How long the recovery took (the wait for the client's verdict excluded). */
  totalMs: number;
  /** What the lab's client saw, from its own log (labs with a counter client). */
  client?: ClientVerdict;
}

export interface RecoverLabOptions {
  shell?: Shell;
  progress?: Progress;
  /**
   * Makes the switch send the workload's traffic to a host, if it does not already (default:
   * through the lab's controller).
   */
  pointSwitch?: (from: string, to: string, host: string) => Promise<string>;
  /**
   * After recovering, how long to wait for client connections that are still silent (TCP
   * resends a request only at its next retransmission; default 0: read the log once).
   */
  clientWaitMs?: number;
  /** How long to let the interrupted migration's commands finish (default 10 s). */
  settleMs?: number;
}

/** The lab's journal when its migration is interrupted (its writer is dead); else undefined. */
export async function interruptedMigration(lab: Lab): Promise<JournalRecord | undefined> {
  const runDir = runDirOf(lab);
  const journal = await readJournal(runDir).catch(() => undefined);
  if (!journal) return undefined;
  return await lockOwner(migrateLockPath(runDir)) === undefined ? journal : undefined;
}

/**
 * The switch update of a recovery: asks the controller where the workload's backend points and
 * moves it to `host` only if it points elsewhere (the controller is looked up at the first call).
 */
export function controllerPointSwitch(
  lab: Lab,
): (from: string, to: string, host: string) => Promise<string> {
  let api: ControllerApi | undefined;
  return async (from, to, host) => {
    api ??= await ControllerApi.forLab(lab, { timeoutMs: 5000 });
    const { backends } = await api.backends();
    if (backends.some((b) => b.host === host)) return `already points at ${host}`;
    const backend = backends.find((b) => b.host === from || b.host === to);
    if (!backend) {
      throw new Error(`the controller has no backend on ${from} or ${to} to point at ${host}`);
    }
    const change = await api.migrateBackend(backend.id, host);
    return `${backend.host} -> ${host}, ${change.updates} update(s)`;
  };
}

function hostNamed(lab: Lab, name: string): Host {
  const host = lab.hosts.find((h) => h.name === name);
  if (!host) throw new UserError(`The journal names host ${name}, which lab ${lab.name} lacks`);
  return host;
}

/** The journal names namespaces that have since been replaced: the lab was brought up anew. */
function staleJournal(j: JournalRecord): boolean {
  return [j.from, j.to].some((h) =>
    h.netnsInode !== undefined && netnsInode(`/run/netns/${h.netns}`) !== h.netnsInode
  );
}

/**
 * Finishes or rolls back the lab's interrupted migration (see the module doc). Refuses with a
 * `LockedError` (lib/pid_lock.ts) while the migration still runs; throws when the recovery itself fails (the
 * journal stays, for another try).
 */
export async function recoverLab(
  lab: Lab,
  options: RecoverLabOptions = {},
): Promise<LabRecoveryReport> {
  const t0 = performance.now();
  const runDir = runDirOf(lab);
  const progress = options.progress ?? silentProgress;
  const base = { lab: lab.name, actions: [] as string[] };
  if (!await readJournal(runDir)) {
    return { ...base, outcome: "nothing-to-do", totalMs: performance.now() - t0 };
  }
  await using _lock = await acquireLock(
    migrateLockPath(runDir),
    (owner) =>
      `A migration in lab ${lab.name} is still running (pid ${owner}); there is nothing to ` +
      "recover unless it is killed",
  );
  // Read again under the lock: a recovery that just finished removed it.
  const found = await readJournal(runDir);
  if (!found) return { ...base, outcome: "nothing-to-do", totalMs: performance.now() - t0 };
  if (found.lab !== lab.name) {
    throw new UserError(`${journalPath(runDir)} is the journal of lab ${found.lab}`, {
      hint: `remove it if lab ${found.lab} is not run from ${runDir}`,
    });
  }
  if (staleJournal(found)) {
    await Deno.remove(journalPath(runDir)).catch(() => {});
    return {
      ...base,
      outcome: "stale",
      journal: found,
      actions: [`removed the journal of ${found.id}: the lab has been brought up anew since`],
      totalMs: performance.now() - t0,
    };
  }
  const journal = await MigrationJournal.adopt(runDir, found);
  const point = options.pointSwitch ?? controllerPointSwitch(lab);
  const shell = options.shell ?? defaultShell;
  await using k8s = found.kind === "pod" ? await openClusterClients(lab) : undefined;
  let result;
  try {
    result = await recoverMigration(journal, {
      shell,
      progress,
      pointSwitch: (host) => point(found.from.name, found.to.name, host),
      runDir,
      labId: lab.id,
      settleMs: options.settleMs,
      podDriver: k8s && ((j) =>
        labPodDriver(lab, k8s, {
          shell,
          pod: j.source.pod!,
          newPod: j.source.newPod,
          workload: j.workload,
          from: hostNamed(lab, j.from.name),
          to: hostNamed(lab, j.to.name),
          checkpointDir: j.checkpointDir,
        })),
    });
  } catch (err) {
    throw new Error(
      `Cannot recover the migration of ${found.workload} in lab ${lab.name} ` +
        `(${found.from.name} -> ${found.to.name}): ${(err as Error).message}\n` +
        `The journal stays in ${journalPath(runDir)}: run \`deno task lab recover ${lab.name}\` ` +
        `again once the cause is fixed, or \`deno task lab down ${lab.name}\``,
      { cause: err },
    );
  }

  const placements = await readPlacements(runDir);
  const placement = placements.find((p) => p.name === found.workload);
  if (placement && result.host) {
    placement.host = result.host;
    if (k8s && result.pod && result.pod !== placement.pod) {
      placement.pod = placement.container = result.pod;
      placement.logFile =
        await podLogFile(k8s.access, labNamespace(lab), result.pod, found.workload) ??
          placement.logFile;
    }
    if (result.pid !== undefined) {
      placement.pid = result.pid;
      if (placement.pidFile) await Deno.writeTextFile(placement.pidFile, `${result.pid}\n`);
    }
    await writePlacements(runDir, placements);
  }
  await journal.remove();
  const totalMs = performance.now() - t0;

  const frozeAt = found.history.find((h) => h.step === "dump" && h.stage === "begin")?.at;
  const client = await clientVerdict(lab, placements, {
    sinceMs: Date.parse(frozeAt ?? found.startedAt),
    waitMs: options.clientWaitMs ?? 0,
  });
  const report: LabRecoveryReport = {
    ...base,
    outcome: result.outcome,
    journal: found,
    actions: result.actions,
    host: result.host,
    pid: result.pid,
    totalMs,
    client,
  };
  await Deno.writeTextFile(
    `${found.checkpointDir}/recovery.json`,
    JSON.stringify(report, null, 2) + "\n",
  ).catch(() => {});
  return report;
}
