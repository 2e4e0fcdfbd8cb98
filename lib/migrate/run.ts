/**
 * The migration sequence and its safety rules, independent of what is migrated. A
 * {@link MigrationDriver} (CRIU process or Podman container) supplies the phases; this module
 * runs them in order, times each one, and decides what happens on failure:
 *
 * - the switch is updated only after a successful restore;
 * - if the dump fails, the source was never stopped (CRIU resumes it) and keeps serving;
 * - if transfer, rewrite or restore fails, the workload is restored on the source from the
 *   untouched checkpoint, and the switch is left as it was;
 * - the checkpoint directory stays on disk for inspection either way.
 *
 * @module
 */
import type { Progress } from "../progress.ts";

export type PhaseName =
  | "prepare"
  | "pre-dump"
  | "dump"
  | "transfer"
  | "rewrite"
  | "restore"
  | "switch"
  | "cleanup";

export interface PhaseTiming {
  phase: PhaseName;
  /** Milliseconds from the start of the migration to the start of this phase. */
  startMs: number;
  ms: number;
  ok: boolean;
  /** Short detail (e.g. "2 sockets rewritten"). */
  note?: string;
  error?: string;
}

export type MigrationOutcome =
  /** Running on the target, switch updated. */
  | "migrated"
  /** Dump failed; the source never stopped serving. */
  | "dump-failed"
  /** Restore on the target failed; the workload runs on the source again. */
  | "rolled-back"
  /** Restore failed and so did restoring on the source: the workload is down. */
  | "rollback-failed"
  /** Running on the target, but the switch could not be updated. */
  | "switch-failed";

export interface MigrationResult {
  outcome: MigrationOutcome;
  phases: PhaseTiming[];
  /** Wall time of the whole sequence, ms. */
  wallMs: number;
  /** From the start of the final dump to the end of the switch update: the service gap we cause. */
  frozenMs: number;
  /** Wall-clock (epoch ms) start and end of that frozen window, for plots and downtime. */
  frozenWindow: { start: number; end: number };
  error?: string;
}

/** The workload-specific half of a migration. Each method throws on failure. */
export interface MigrationDriver {
  /** Lookups that must not count as frozen time (the workload keeps running). */
  prepare?(): Promise<string | void>;
  /** Iterative pre-copy round `i` (0-based) while the workload keeps running. */
  preDump?(round: number): Promise<string | void>;
  /** Freeze and checkpoint; the source must keep running if this throws. */
  dump(): Promise<string | void>;
  /** Move the checkpoint to where the target restores from (kept separate from the original). */
  transfer(): Promise<string | void>;
  /** Rewrite addresses in the transferred copy. Returns a note such as "3 sockets". */
  rewrite(): Promise<string | void>;
  restore(): Promise<string | void>;
  /** Bring the workload back on the source from the original checkpoint. */
  restoreOnSource(): Promise<string | void>;
  /** Remove what remains of the old instance (lock rules, stopped container). */
  cleanupSource(): Promise<string | void>;
  /**
   * Lets a workload restored stopped run. Called right after the switch update, whether it
   * succeeded or not: a server that answered before the switch moved would send its clients'
   * next requests to the locked source, costing them a 200 ms retransmission.
   */
  resume?(): unknown;
}

export interface RunOptions {
  preDumpRounds?: number;
  /**
   * Carries on a migration whose earlier phases happened in a process that died (a recovery, see
   * lib/migrate/recovery.ts): `"transfer"` when a complete checkpoint exists and the source is
   * gone, `"switch"` when the target is restored. Default: from the start.
   */
  startAt?: "transfer" | "switch";
  progress: Progress;
  /** Points the switch at the target; called only after a successful restore. */
  switchUpdate(): Promise<string | void>;
}

/** Runs a migration; never throws for phase failures (they are in the result), only for bugs. */
export async function runMigration(
  driver: MigrationDriver,
  options: RunOptions,
): Promise<MigrationResult> {
  const t0 = performance.now();
  const phases: PhaseTiming[] = [];
  const { progress } = options;
  let frozenStart = 0;
  let frozenStartEpoch = 0;
  let switchDoneAt = 0;

  async function phase(name: PhaseName, title: string, fn: () => Promise<string | void>) {
    const done = progress.step(title);
    const start = performance.now();
    try {
      const note = (await fn()) ?? undefined;
      const ms = performance.now() - start;
      phases.push({ phase: name, startMs: start - t0, ms, ok: true, note });
      done(note);
      return true;
    } catch (err) {
      const ms = performance.now() - start;
      const error = err instanceof Error ? err.message : String(err);
      phases.push({ phase: name, startMs: start - t0, ms, ok: false, error });
      progress.warn(`${title} failed: ${error.split("\n")[0]}`);
      return false;
    }
  }

  const finish = (outcome: MigrationOutcome, error?: string): MigrationResult => {
    const end = performance.now();
    const frozenMs = frozenStart ? (switchDoneAt || end) - frozenStart : 0;
    return {
      outcome,
      phases,
      wallMs: end - t0,
      frozenMs,
      frozenWindow: { start: frozenStartEpoch, end: frozenStartEpoch + frozenMs },
      error,
    };
  };
  const lastError = () => phases.at(-1)?.error;

  const { startAt } = options;
  if (!startAt) {
    if (driver.prepare && !await phase("prepare", "prepare", () => driver.prepare!())) {
      return finish("dump-failed", lastError());
    }
    for (let round = 0; round < (options.preDumpRounds ?? 0); round++) {
      if (!driver.preDump) break;
      if (!await phase("pre-dump", `pre-dump round ${round + 1}`, () => driver.preDump!(round))) {
        return finish("dump-failed", lastError());
      }
    }
  }
  frozenStart = performance.now();
  frozenStartEpoch = Date.now();
  if (!startAt && !await phase("dump", "checkpoint (freeze + dump)", () => driver.dump())) {
    return finish("dump-failed", lastError());
  }
  const restored = startAt === "switch" ||
    await phase("transfer", "transfer checkpoint", () => driver.transfer()) &&
      await phase("rewrite", "rewrite socket addresses", () => driver.rewrite()) &&
      await phase("restore", "restore on target", () => driver.restore());
  if (!restored) {
    const error = lastError();
    const back = await phase(
      "restore",
      "restore on source (rollback)",
      () => driver.restoreOnSource(),
    );
    return finish(back ? "rolled-back" : "rollback-failed", error);
  }
  const switched = await phase("switch", "update switch", options.switchUpdate);
  await driver.resume?.();
  if (!switched) return finish("switch-failed", lastError());
  switchDoneAt = performance.now();
  await phase("cleanup", "clean up source", () => driver.cleanupSource());
  return finish("migrated");
}
