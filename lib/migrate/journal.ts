/**
 * The journal of a migration: one small JSON file in the lab's run directory
 * (`<runDir>/migration.journal.json`) saying which migration is under way, what moves where, and
 * which step it has begun. It is written (atomically: a temporary file renamed over it) before
 * every step, and again after the steps whose outcome a recovery needs (dump, restore, rollback,
 * switch): ~0.3 ms a write, ten of them in the frozen window. It is removed once the migration
 * has ended, whichever way. A journal whose writer
 * died is what `deno task lab recover` (lib/runtime/recover.ts) finishes or rolls back.
 *
 * The journal says what was begun, never what happened: a step begun may have ended the instant
 * before the kill. Recovery therefore decides from what it finds (lib/migrate/recovery.ts) and
 * uses the journal for what it cannot find: the source and target, the checkpoint, and whether
 * a restore on the source (a rollback) was under way.
 *
 * ```ts
 * const journal = await MigrationJournal.create(runDir, record);
 * const driver = journaledDriver(processDriver, journal, () => ({ restoredPid: processDriver.pid }));
 * // ... runMigration(driver, ...) ...
 * await journal.remove();
 * ```
 *
 * @module
 */
import type { MigrationDriver, PhaseName } from "./run.ts";

/** The journal's file name in the lab's run directory. */
export const JOURNAL_FILE = "migration.journal.json";

/** Path of a lab's migration journal. */
export function journalPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/${JOURNAL_FILE}`;
}

/** A step of a migration as journaled: the phases, the rollback and the resume of the target. */
export type JournalStep = PhaseName | "rollback" | "resume";

/** One end of a migration. */
export interface JournalHost {
  name: string;
  ip: string;
  /** Named network namespace. */
  netns: string;
  /** Inode of that namespace when the migration began: a different one means a new lab. */
  netnsInode?: number;
  /** Podman pod (container workloads). */
  pod?: string;
}

/** The journal's content. */
export interface JournalRecord {
  version: 1;
  /** The checkpoint directory's name (time, workload, hosts). */
  id: string;
  lab: string;
  workload: string;
  kind: "process" | "container" | "pod";
  from: JournalHost;
  to: JournalHost;
  checkpointDir: string;
  /** The workload as it ran on the source when the migration began. */
  source: {
    /** Process workloads: the root pid (CRIU restores the same pid elsewhere). */
    pid?: number;
    /** Container workloads: the container's name and its CRIU configuration file. */
    container?: string;
    criuConfig?: string;
    /** Kubernetes pods: the pod that moves, and the name of the pod restored from it. */
    pod?: string;
    newPod?: string;
  };
  preDumpRounds: number;
  /** The pid of the process writing the journal (the migration, or a recovery). */
  owner: number;
  /** The last step begun (or ended, see `stage`). */
  step: JournalStep;
  stage: "begin" | "end";
  /** With stage "end": whether the step succeeded. */
  ok?: boolean;
  /** A restore on the source from the untouched checkpoint has begun. */
  rollback: boolean;
  /** The switch was updated to the target (only once the update returned). */
  switchMoved: boolean;
  /** The restored root pid (processes), or the restored container's pid. */
  restoredPid?: number;
  /** Recoveries begun on this journal (a recovery may itself be interrupted). */
  recoveries: number;
  startedAt: string;
  updatedAt: string;
  /** Every step begun and ended, in order (at most a few dozen entries). */
  history: { step: JournalStep; stage: "begin" | "end"; ok?: boolean; at: string }[];
}

/** Fields a step may add to the journal. */
export type JournalFacts = Partial<Pick<JournalRecord, "restoredPid" | "switchMoved">>;

/** Reads a lab's journal; undefined when there is none. A malformed one is an error. */
export async function readJournal(runDir: string): Promise<JournalRecord | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(journalPath(runDir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const record = JSON.parse(text) as JournalRecord;
  if (record?.version !== 1 || typeof record.checkpointDir !== "string") {
    throw new SyntaxError(`Cannot read ${journalPath(runDir)}: not a version 1 migration journal`);
  }
  return record;
}

/** Writes `record` as the lab's journal, atomically (a reader sees the old or the new one). */
export async function writeJournal(runDir: string, record: JournalRecord): Promise<void> {
  const path = journalPath(runDir);
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(record, null, 1) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, path);
}

/** The journal of one migration (or recovery) in progress. */
export class MigrationJournal {
  #record: JournalRecord;

  private constructor(readonly runDir: string, record: JournalRecord) {
    this.#record = record;
  }

  /** Starts a journal (written at once). */
  static async create(
    runDir: string,
    record: Omit<
      JournalRecord,
      | "version"
      | "owner"
      | "step"
      | "stage"
      | "rollback"
      | "switchMoved"
      | "recoveries"
      | "startedAt"
      | "updatedAt"
      | "history"
    >,
  ): Promise<MigrationJournal> {
    const now = new Date().toISOString();
    const journal = new MigrationJournal(runDir, {
      version: 1,
      ...record,
      owner: Deno.pid,
      step: "prepare",
      stage: "begin",
      rollback: false,
      switchMoved: false,
      recoveries: 0,
      startedAt: now,
      updatedAt: now,
      history: [],
    });
    await journal.#write();
    return journal;
  }

  /** Takes over an existing journal (a recovery): this process is its owner from now on. */
  static async adopt(runDir: string, record: JournalRecord): Promise<MigrationJournal> {
    const journal = new MigrationJournal(runDir, {
      ...record,
      owner: Deno.pid,
      recoveries: record.recoveries + 1,
    });
    await journal.#write();
    return journal;
  }

  get record(): Readonly<JournalRecord> {
    return this.#record;
  }

  /** Records that `step` begins. Throws when the journal cannot be written. */
  async begin(step: JournalStep, facts: JournalFacts = {}): Promise<void> {
    this.#update(step, "begin", undefined, facts);
    if (step === "rollback") this.#record.rollback = true;
    await this.#write();
  }

  /**
   * Records how `step` ended. Never throws: the step has happened whether or not this is
   * written, and a recovery looks at what exists anyway.
   */
  async end(step: JournalStep, ok: boolean, facts: JournalFacts = {}): Promise<void> {
    this.#update(step, "end", ok, facts);
    await this.#write().catch(() => {});
  }

  /** Removes the journal: the migration (or recovery) has ended. */
  async remove(): Promise<void> {
    await Deno.remove(journalPath(this.runDir)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  #update(step: JournalStep, stage: "begin" | "end", ok: boolean | undefined, facts: JournalFacts) {
    const at = new Date().toISOString();
    Object.assign(this.#record, facts, { step, stage, ok, updatedAt: at });
    if (this.#record.history.length < 64) this.#record.history.push({ step, stage, ok, at });
  }

  #write(): Promise<void> {
    return writeJournal(this.runDir, this.#record);
  }
}

/**
 * Wraps a driver so that each of its steps is journaled: begun before it runs (a journal that
 * cannot be written fails the step, before it does anything), and ended after the dump and the
 * restores, with `facts()` (e.g. the restored pid) merged in.
 */
export function journaledDriver(
  driver: MigrationDriver,
  journal: MigrationJournal,
  facts: () => JournalFacts = () => ({}),
): MigrationDriver {
  const step = <T>(name: JournalStep, fn: () => Promise<T>, endAfter = false) => async () => {
    await journal.begin(name);
    if (!endAfter) return await fn();
    try {
      const result = await fn();
      await journal.end(name, true, facts());
      return result;
    } catch (err) {
      await journal.end(name, false, facts());
      throw err;
    }
  };
  const wrapped: MigrationDriver = {
    dump: step("dump", () => driver.dump(), true),
    transfer: step("transfer", () => driver.transfer()),
    rewrite: step("rewrite", () => driver.rewrite()),
    restore: step("restore", () => driver.restore(), true),
    restoreOnSource: step("rollback", () => driver.restoreOnSource(), true),
    cleanupSource: step("cleanup", () => driver.cleanupSource()),
  };
  if (driver.prepare) wrapped.prepare = step("prepare", () => driver.prepare!());
  if (driver.preDump) {
    wrapped.preDump = (round) => step("pre-dump", () => driver.preDump!(round))();
  }
  if (driver.resume) {
    // runMigration resumes outside its phases, where nothing may throw: the resume happens
    // whether or not the journal could say so. Resuming twice is harmless, so no end is written
    // (the frozen window is short enough without it).
    wrapped.resume = async () => {
      await journal.begin("resume").catch(() => {});
      return await driver.resume!();
    };
  }
  return wrapped;
}

/** Wraps a switch update so that it is journaled (`switchMoved` once it returned). */
export function journaledSwitch(
  update: () => Promise<string | void>,
  journal: MigrationJournal,
): () => Promise<string | void> {
  return async () => {
    await journal.begin("switch");
    try {
      const note = await update();
      await journal.end("switch", true, { switchMoved: true });
      return note;
    } catch (err) {
      await journal.end("switch", false);
      throw err;
    }
  };
}
