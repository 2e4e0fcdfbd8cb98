/**
 * Finishing or rolling back a migration whose process died, from its journal
 * (lib/migrate/journal.ts). A recovery first lets the commands the dead migration left running
 * end (CRIU, Podman), then looks at what exists, then plans one action ({@link planRecovery},
 * pure) and applies it with the migration's own driver:
 *
 * | found                                             | action                                  |
 * | ------------------------------------------------- | --------------------------------------- |
 * | the workload runs on the target (restored)        | switch to the target, resume, clean up  |
 * | the workload runs on the source                   | let it run, lift CRIU's locks           |
 * | nothing runs, a complete checkpoint, no rollback  | transfer, rewrite, restore on the target, switch, resume, clean up (on failure: restore on the source) |
 * | nothing runs, a complete checkpoint, a rollback   | restore on the source                   |
 * | nothing runs, only Podman's own checkpoint        | restore the container where it was      |
 * | nothing runs, no complete checkpoint              | lost (nothing to restore from)          |
 *
 * Every path ends with the switch pointing where the workload runs and no CRIU lock in either
 * namespace. Each step is journaled again, and every action is safe to repeat: a recovery that
 * is itself interrupted is recovered the same way.
 *
 * @module
 */
import { hookArgv, THAW_ACTION, writeCriuConfig } from "../podman/criu_config.ts";
import type { Progress } from "../progress.ts";
import { settleLabPodmanCommands } from "../runtime/orphan_commands.ts";
import { defaultShell, type Shell, signalProcess } from "../shell.ts";
import { ContainerDriver } from "./container_driver.ts";
import {
  journaledDriver,
  journaledSwitch,
  type JournalHost,
  type JournalRecord,
  type MigrationJournal,
} from "./journal.ts";
import { ProcessDriver } from "./process_driver.ts";
import type { PodDriver } from "./pod_driver.ts";
import { podSubject } from "./pod_recovery.ts";
import {
  archiveFileComplete,
  dumpComplete,
  namespaceOf,
  removeCriuLocks,
  settleCriuRuns,
} from "./recovery_probes.ts";
import { type MigrationDriver, type MigrationResult, runMigration } from "./run.ts";

/** Where the workload is found running. */
export type Side = "source" | "target";

/** What a recovery found. */
export interface RecoveryFacts {
  /** Where the workload runs now; undefined when nowhere. */
  running?: Side;
  /** A complete checkpoint of the source exists (its dump ended). */
  checkpointComplete: boolean;
  /**
   * Containers: the stopped source container still exists and Podman's own copy of its
   * checkpoint is complete (the export into the checkpoint directory may not be).
   */
  checkpointInPlace?: boolean;
  /** The journal says a restore on the source (a rollback) had begun. */
  rollback: boolean;
}

/** The one thing a recovery does (see the module doc). */
export type RecoveryPlan =
  | { action: "finish-on-target" }
  | { action: "resume-source" }
  | { action: "restore-on-target" }
  | { action: "restore-on-source" }
  | { action: "restore-in-place" }
  | { action: "lost"; reason: string };

/** Decides what a recovery does from what it found (pure). */
export function planRecovery(facts: RecoveryFacts): RecoveryPlan {
  if (facts.running === "target") return { action: "finish-on-target" };
  if (facts.running === "source") return { action: "resume-source" };
  if (!facts.checkpointComplete) {
    if (facts.checkpointInPlace) return { action: "restore-in-place" };
    return {
      action: "lost",
      reason: "the workload runs nowhere and its checkpoint is incomplete",
    };
  }
  return { action: facts.rollback ? "restore-on-source" : "restore-on-target" };
}

/** How a recovery ended. */
export type RecoveryOutcome =
  /** The workload runs on the target, the switch points at it. */
  | "migrated"
  /** The workload runs on the source, the switch points at it. */
  | "rolled-back"
  /** The workload runs nowhere: nothing was left to restore it from. */
  | "lost";

export interface RecoveryResult {
  outcome: RecoveryOutcome;
  facts: RecoveryFacts;
  plan: RecoveryPlan;
  /** What it did, in order, one line each. */
  actions: string[];
  /** The host the workload runs on now (undefined when lost). */
  host?: string;
  /** Process workloads: the pid it runs as now. */
  pid?: number;
  /** Kubernetes pods: the pod it runs as now. */
  pod?: string;
  /** The migration phases it ran (restore-on-target, finish-on-target). */
  migration?: MigrationResult;
}

export interface RecoverOptions {
  shell?: Shell;
  progress: Progress;
  /**
   * Makes the switch send the workload's traffic to `host` (the source's or the target's name),
   * doing nothing when it already does; returns a note. Idempotent.
   */
  pointSwitch(host: string): Promise<string>;
  /** The lab's run directory and id (to find Podman commands the migration left running). */
  runDir: string;
  labId?: string;
  /** How long to let commands of the dead migration finish before killing them (default 10 s). */
  settleMs?: number;
  /** Kubernetes labs: the pod migration's driver for a journal of kind `pod`. */
  podDriver?: (j: JournalRecord) => PodDriver;
}

/** One workload kind's part of a recovery. */
export interface Subject {
  driver: MigrationDriver;
  /** Lets the dead migration's commands end; returns notes. */
  settle(): Promise<string[]>;
  facts(rollback: boolean): Promise<RecoveryFacts>;
  /** The workload was found restored on the target: have it resumed after the switch. */
  adoptTarget(): Promise<string>;
  /** The workload runs on the source: let it run. */
  resumeSource(): Promise<string>;
  /** Restores the source from the runtime's own checkpoint (containers). */
  restoreInPlace?(): Promise<string>;
  /** Process workloads: its pid now. */
  pid(): number | undefined;
  /** Kubernetes pods: the pod it runs as, on the side the recovery left it. */
  pod?(side: Side): string;
}

const netnsOf = (h: JournalHost) => h.netns;

function processSubject(j: JournalRecord, shell: Shell, settleMs: number): Subject {
  const pid = j.source.pid!;
  const driver = new ProcessDriver({
    shell,
    sourceNetns: netnsOf(j.from),
    targetNetns: netnsOf(j.to),
    pid,
    fromIp: j.from.ip,
    toIp: j.to.ip,
    checkpointDir: j.checkpointDir,
    resumeAfterSwitch: true,
    stopBeforeDump: true,
  });
  const where = () => namespaceOf(pid, { source: netnsOf(j.from), target: netnsOf(j.to) });
  return {
    driver,
    async settle() {
      const note = await settleCriuRuns(j.checkpointDir, settleMs);
      return note ? [note] : [];
    },
    async facts(rollback) {
      return {
        running: where(),
        checkpointComplete: await dumpComplete(driver.plan.imagesDir),
        rollback,
      };
    },
    adoptTarget: () => driver.adoptRestored("target", pid),
    resumeSource: () => driver.adoptRestored("source", pid),
    pid: () => driver.pid,
  };
}

async function containerState(shell: Shell, container: string) {
  const format = "{{.State.Status}} {{.State.Pid}} {{.Pod}} {{.StaticDir}}";
  const r = await shell.run(["podman", "inspect", "--format", format, container], {
    check: false,
  });
  const [status = "", pid = "0", pod = "", dir = ""] = r.code === 0
    ? r.stdout.trim().split(" ")
    : [];
  return { status, pid: Number(pid) || 0, pod, dir };
}

async function podId(shell: Shell, pod: string): Promise<string> {
  const r = await shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", pod], {
    check: false,
  });
  return r.code === 0 ? r.stdout.trim() : "";
}

function containerSubject(
  j: JournalRecord,
  shell: Shell,
  options: RecoverOptions,
  settleMs: number,
): Subject {
  const container = j.source.container!;
  const config = j.source.criuConfig;
  const driver = new ContainerDriver({
    shell,
    container,
    sourcePod: j.from.pod!,
    targetPod: j.to.pod!,
    sourceNetns: netnsOf(j.from),
    targetNetns: netnsOf(j.to),
    fromIp: j.from.ip,
    toIp: j.to.ip,
    checkpointDir: j.checkpointDir,
    criuConfig: config,
  });
  let found = { status: "", pid: 0, pod: "", dir: "" };
  return {
    driver,
    async settle() {
      const waited = await settleLabPodmanCommands(options.runDir, options.labId, {
        shell,
        timeoutMs: settleMs,
      });
      const criu = await settleCriuRuns(j.checkpointDir, settleMs);
      return [
        ...(waited.length ? [`waited for Podman command(s) pid ${waited.join(", ")}`] : []),
        ...(criu ? [criu] : []),
      ];
    },
    async facts(rollback) {
      found = await containerState(shell, container);
      // Restored beside the stopped source under a temporary name (lib/migrate/container_driver.ts)
      // and killed before it took its name back: that one is the workload.
      if (found.status !== "running") {
        const restored = await containerState(shell, driver.restoredName);
        if (restored.status === "running") found = restored;
      }
      let running: Side | undefined;
      const [source, target] = found.status
        ? await Promise.all([podId(shell, j.from.pod!), podId(shell, j.to.pod!)])
        : ["", ""];
      if (found.status === "running" && found.pid > 0) {
        running = found.pod === source ? "source" : found.pod === target ? "target" : undefined;
      }
      // Podman keeps the dump in the container's directory (its `dump.log` and `checkpoint/`).
      const inPlace = !running && found.pod === source && found.dir !== "" &&
        await dumpComplete(`${found.dir}/checkpoint`, `${found.dir}/dump.log`);
      return {
        running,
        checkpointComplete: await archiveFileComplete(driver.sourceArchive),
        checkpointInPlace: inPlace,
        rollback,
      };
    },
    adoptTarget() {
      driver.adoptRestored(found.pid);
      return Promise.resolve(`container pid ${found.pid} in pod ${j.to.pod}`);
    },
    async resumeSource() {
      // Frozen by the migration before its checkpoint, or restored stopped by a rollback.
      if (config) await writeCriuConfig(config);
      const { pid } = await containerState(shell, container);
      if (!(pid > 0)) throw new Error(`container ${container} does not run in pod ${j.from.pod}`);
      if (config) await shell.run(hookArgv(config, THAW_ACTION, pid), { check: false });
      signalProcess(pid, "SIGCONT");
      return `container pid ${pid} thawed and continued in pod ${j.from.pod}`;
    },
    restoreInPlace: () => driver.restoreInPlace(),
    pid: () => undefined,
  };
}

function podDriverOf(j: JournalRecord, options: RecoverOptions): PodDriver {
  if (!options.podDriver) {
    throw new Error(`${j.workload} moved as a Kubernetes pod: recover it through its lab`);
  }
  return options.podDriver(j);
}

/**
 * Finishes or rolls back the migration `journal` describes (see the module doc). The caller holds
 * the lab's migration lock and removes the journal afterwards.
 */
export async function recoverMigration(
  journal: MigrationJournal,
  options: RecoverOptions,
): Promise<RecoveryResult> {
  const shell = options.shell ?? defaultShell;
  const { progress } = options;
  const j = journal.record;
  const settleMs = options.settleMs ?? 10_000;
  const subject = j.kind === "process"
    ? processSubject(j, shell, settleMs)
    : j.kind === "pod"
    ? podSubject(j, podDriverOf(j, options), options, settleMs)
    : containerSubject(j, shell, options, settleMs);
  const actions: string[] = [];
  const step = async <T>(title: string, fn: () => Promise<T>, note?: (t: T) => string) => {
    const done = progress.step(title);
    const result = await fn();
    const line = note ? note(result) : typeof result === "string" ? result : "";
    done(line || undefined);
    actions.push(line ? `${title}: ${line}` : title);
    return result;
  };

  await step(
    "let the interrupted migration's commands end",
    () => subject.settle(),
    (notes) => notes.join("; ") || "none running",
  );
  const facts = await step(
    "look at the source, the target and the checkpoint",
    () => subject.facts(j.rollback),
    describeFacts,
  );
  const plan = planRecovery(facts);
  const switchBegun = j.history.some((h) => h.step === "switch");
  const pointAt = async (host: JournalHost) => {
    try {
      return await options.pointSwitch(host.name);
    } catch (err) {
      // The switch never moved: it points at the source whatever the controller's state.
      if (host === j.from && !switchBegun) {
        return `not checked (${(err as Error).message.split("\n")[0]}); it never moved`;
      }
      throw err;
    }
  };
  const unlockBoth = () =>
    step("lift CRIU's connection locks", async () => {
      const removed = [
        ...await removeCriuLocks(shell, netnsOf(j.from)),
        ...await removeCriuLocks(shell, netnsOf(j.to)),
      ];
      return removed.length ? `removed ${removed.join(", ")}` : "none left";
    });
  const result = (outcome: RecoveryOutcome, migration?: MigrationResult): RecoveryResult => ({
    outcome,
    facts,
    plan,
    actions,
    host: outcome === "migrated" ? j.to.name : outcome === "rolled-back" ? j.from.name : undefined,
    pid: outcome === "lost" ? undefined : subject.pid(),
    pod: outcome === "migrated"
      ? subject.pod?.("target")
      : outcome === "rolled-back"
      ? subject.pod?.("source")
      : undefined,
    migration,
  });

  switch (plan.action) {
    case "lost":
      actions.push(`lost: ${plan.reason}`);
      return result("lost");
    case "resume-source":
    case "restore-in-place":
    case "restore-on-source": {
      if (plan.action === "restore-on-source") {
        const driver = journaledDriver(subject.driver, journal);
        await step("restore on source (rollback)", () => driver.restoreOnSource());
      } else if (plan.action === "restore-in-place") {
        await journal.begin("rollback");
        await step("restore on source (rollback)", () => subject.restoreInPlace!());
        await journal.end("rollback", true);
      }
      await step(`switch to ${j.from.name}`, () => pointAt(j.from));
      await unlockBoth();
      await step(`resume on ${j.from.name}`, () => subject.resumeSource());
      return result("rolled-back");
    }
    case "finish-on-target":
    case "restore-on-target": {
      if (plan.action === "finish-on-target") {
        await step(`take over the server restored on ${j.to.name}`, () => subject.adoptTarget());
      }
      const migration = await runMigration(
        journaledDriver(subject.driver, journal, () => ({ restoredPid: subject.pid() })),
        {
          progress,
          startAt: plan.action === "finish-on-target" ? "switch" : "transfer",
          switchUpdate: journaledSwitch(() => pointAt(j.to), journal),
        },
      );
      for (const p of migration.phases) {
        actions.push(
          `${p.phase}: ${p.ok ? p.note ?? "ok" : `FAILED: ${(p.error ?? "").split("\n")[0]}`}`,
        );
      }
      if (migration.outcome === "migrated") {
        await unlockBoth();
        return result("migrated", migration);
      }
      if (migration.outcome === "rolled-back") {
        await step(`switch to ${j.from.name}`, () => pointAt(j.from));
        await unlockBoth();
        return result("rolled-back", migration);
      }
      // Restored on the target but the switch could not follow, or both restores failed.
      throw new Error(
        `recovery of ${j.workload} failed (${migration.outcome}): ${migration.error ?? ""}`,
      );
    }
  }
}

function describeFacts(f: RecoveryFacts): string {
  const where = f.running ? `runs on the ${f.running}` : "runs nowhere";
  const checkpoint = f.checkpointComplete
    ? "checkpoint complete"
    : f.checkpointInPlace
    ? "only Podman's own checkpoint is complete"
    : "no complete checkpoint";
  return `${where}; ${checkpoint}${f.rollback ? "; a rollback had begun" : ""}`;
}
