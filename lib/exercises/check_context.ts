/**
 * What every exercise check receives, and the small lab helpers they share: which host plays the
 * client, where the client's log is, waiting until it answers.
 *
 * @module
 */
import { migrationsDir } from "../lab/paths.ts";
import { readPlacements } from "../workloads/placements.ts";
import type { Host, Lab } from "../lab/types.ts";
import type { Progress } from "../progress.ts";
import type { Shell } from "../shell.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";
import type { Exercise } from "./catalog.ts";
import type { ExerciseLabOptions } from "./exercise_lab.ts";
import type { Grader } from "./grading.ts";
import { parseWorkloadLog } from "../workloads/client_log.ts";

export interface CheckContext {
  exercise: Exercise;
  /** Absolute paths: the exercise directory, the checked file, the lab file. */
  files: { dir: string; student: string; lab: string };
  grader: Grader;
  /** How to bring the exercise's lab up: the student's identity, keep, reuse, progress. */
  labOptions: ExerciseLabOptions;
  shell: Shell;
  /** The check's own steps and the student code's log lines. */
  progress: Progress;
  /** Show more of what the check saw (entries read back, timelines). */
  verbose?: boolean;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A host by name; throws (a bug in the exercise's lab) when missing. */
export function hostNamed(lab: Lab, name: string): Host {
  const host = lab.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`Lab ${lab.name} has no host ${name}`);
  return host;
}

/** The host clients run on: a client workload's, else the first host that is not a backend. */
export function clientHost(lab: Lab): Host {
  const client = lab.workloads.find((w) => w.role === "client");
  if (client) return hostNamed(lab, client.host);
  const host = lab.hosts.find((h) => !lab.loadBalancer.backends.includes(h.name));
  if (!host) throw new Error(`Lab ${lab.name} has no host outside the backends`);
  return host;
}

/** Where a workload runs, from the lab's placement file. */
export async function placementOf(lab: Lab, workload: string): Promise<WorkloadPlacement> {
  const placement = (await readPlacements(lab.runDir!)).find((p) => p.name === workload);
  if (!placement) throw new Error(`Lab ${lab.name} runs no workload ${workload}`);
  return placement;
}

/**
 * Waits until the client's log shows `answers` answers on each of `connections` connections
 * (at most `timeoutMs`); returns whether it did.
 */
export async function waitForClient(
  logFile: string,
  connections: number,
  answers = 5,
  timeoutMs = 5000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(logFile).catch(() => "");
    try {
      const counts = new Map<number, number>();
      for (const r of parseWorkloadLog(text, logFile)) {
        if (r.kind === "answer") counts.set(r.conn, (counts.get(r.conn) ?? 0) + 1);
      }
      const ready = [...counts.values()].filter((n) => n >= answers).length;
      if (ready >= connections) return true;
    } catch { /* a line being written */ }
    await sleep(50);
  }
  return false;
}

/** The client's records from its log. */
export async function readClientLog(logFile: string) {
  return parseWorkloadLog(await Deno.readTextFile(logFile).catch(() => ""), logFile);
}

/** What a migration exercise's check has once its lab runs: the workloads and a work dir. */
export interface RunningMigrationLab {
  server: WorkloadPlacement;
  client: WorkloadPlacement;
  /** A fresh directory for the student's checkpoint files (removed by `lab down`). */
  dir: string;
}

/**
 * Brings a migration exercise's lab up, waits until its client answers on all `connections`,
 * and makes a checkpoint directory under the lab's `migrations/` (which `lab down` removes: the
 * images hold the server's whole memory).
 */
export async function startMigrationLab(
  exLab: { up(): Promise<unknown>; lab: Lab; runDir: string },
  connections: number,
): Promise<RunningMigrationLab> {
  await exLab.up();
  const server = await placementOf(exLab.lab, "server");
  const client = await placementOf(exLab.lab, "client");
  await waitForClient(client.logFile, connections);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = `${migrationsDir(exLab.runDir)}/check-${stamp}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return { server, client, dir };
}
