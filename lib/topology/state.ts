/**
 * A lab's state file (`.run/labs/<lab>/state.json`): every object `up` is about to create is
 * appended and saved before it is created, so `down` after a crash or a kill removes it. Writes
 * are atomic (temporary file + rename). Also the per-lab lock that keeps two `up`/`down` of the
 * same lab from interleaving.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { ensurePrivateDir } from "../lab/paths.ts";
import { acquireLock, type Lock } from "../pid_lock.ts";
import type { LabRuntime } from "../lab/types.ts";
import type { LabObject } from "./objects.ts";

export type LabPhase =
  /** `up` is running or was killed while running. */
  | "creating"
  /** `up` finished. */
  | "up"
  /** `down` is running or was killed while running. */
  | "removing";

export interface LabState {
  version: 1;
  lab: string;
  id: string;
  /** The lab file `up` used. */
  file: string;
  /** What runs the lab (absent: local), so `down` by name picks the right runtime. */
  runtime?: LabRuntime;
  /** Hash of the plan: a second `up` with the same definition is a no-op. */
  fingerprint: string;
  phase: LabPhase;
  /** Pid of the process that last wrote the state. */
  pid: number;
  startedAt: string;
  updatedAt: string;
  /** Created (or about to be created) objects, in creation order. */
  objects: LabObject[];
  /** Titles of steps `up` skipped (switches without a starter). */
  skipped: string[];
}

/** Path of the state file in a run directory. */
export function statePath(runDir: string): string {
  return `${runDir}/state.json`;
}

/** Reads the state file; undefined when there is none. */
export async function readState(runDir: string): Promise<LabState | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(statePath(runDir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    const state = JSON.parse(text) as LabState;
    if (state.version !== 1 || !Array.isArray(state.objects)) throw new Error("unknown format");
    return state;
  } catch (err) {
    throw new UserError(
      `The lab state file ${statePath(runDir)} is unreadable: ${(err as Error).message}`,
      {
        hint: "remove it, then run `deno task lab down <lab>` to sweep the lab's objects by name",
      },
    );
  }
}

/** Writes the state file atomically. */
export async function writeState(runDir: string, state: LabState): Promise<void> {
  state.updatedAt = new Date().toISOString();
  state.pid = Deno.pid;
  const tmp = `${statePath(runDir)}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(state, null, 2) + "\n");
  await Deno.rename(tmp, statePath(runDir));
}

/** Removes the state file (no error when it is already gone). */
export async function removeState(runDir: string): Promise<void> {
  await Deno.remove(statePath(runDir)).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}

/** A fresh state for a lab about to be created. */
export function newState(
  lab: { name: string; id: string; file: string; runtime?: LabRuntime },
  fingerprint: string,
): LabState {
  const now = new Date().toISOString();
  return {
    version: 1,
    lab: lab.name,
    id: lab.id,
    file: lab.file,
    ...(lab.runtime && lab.runtime !== "local" ? { runtime: lab.runtime } : {}),
    fingerprint,
    phase: "creating",
    pid: Deno.pid,
    startedAt: now,
    updatedAt: now,
    objects: [],
    skipped: [],
  };
}

/** States of all labs with a run directory under `runRoot`, by lab name. */
export async function readAllStates(runRoot: string): Promise<Map<string, LabState>> {
  const states = new Map<string, LabState>();
  try {
    for await (const entry of Deno.readDir(runRoot)) {
      if (!entry.isDirectory) continue;
      const state = await readState(`${runRoot}/${entry.name}`).catch(() => undefined);
      if (state) states.set(entry.name, state);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return states;
}

/** A held lab lock. */
export type LabLock = Lock;

/**
 * Takes the lab's lock (`<runDir>/lock` holding our pid). A lock left by a dead process is taken
 * over; one held by a live process is an error.
 */
export async function lockLab(runDir: string, labName: string): Promise<LabLock> {
  await ensurePrivateDir(runDir.replace(/\/[^/]+\/?$/, ""));
  await ensurePrivateDir(runDir);
  return await acquireLock(
    `${runDir}/lock`,
    (owner) => `Lab ${labName} is busy: another lab up/down is running (pid ${owner})`,
  );
}
