/**
 * Where lab files live and where a running lab keeps its files (state, logs, pcaps).
 *
 * @module
 */

import type { Lab } from "./types.ts";

/** The lab's run directory (set by the lab parser). */
export function runDirOf(lab: Pick<Lab, "name" | "runDir">): string {
  if (!lab.runDir) throw new Error(`Lab ${lab.name} has no run directory`);
  return lab.runDir;
}

/** The repository root (this file lives in lib/lab/). */
export function repoRoot(): string {
  return new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
}

/** The directory holding the lab definitions: `lab/` under the repository root. */
export function labDefinitionsDir(root: string = repoRoot()): string {
  return `${root}/lab`;
}

/** The parent of every lab's run directory: `.run/labs/` under the repository root. */
export function labsRunRoot(root: string = repoRoot()): string {
  return `${root}/.run/labs`;
}

/** A lab's run directory: `.run/labs/<lab>/` (state file, switch logs, pcaps). */
export function labRunDir(labName: string, runRoot: string = labsRunRoot()): string {
  return `${runRoot}/${labName}`;
}

/** The lock a migration holds (and `lab down` takes) in a lab's run directory. */
export function migrateLockPath(runDir: string): string {
  return `${runDir}/migrate.lock`;
}

/** Where a lab keeps its migrations' checkpoints and reports (the servers' whole memory). */
export function migrationsDir(runDir: string): string {
  return `${runDir}/migrations`;
}

/**
 * Creates `dir` (and its parents) and makes it owner-only (0700): run directories hold the
 * controller's API token and checkpoint images, which no other local user may read.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await Deno.chmod(dir, 0o700);
}
