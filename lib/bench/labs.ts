/**
 * Benchmarks of whole labs: how long `lab up`/`down` take, and repeated migrations of a lab's
 * server with their client-observed downtime and per-phase times. Returns plain data;
 * `deno task bench` prints and saves it.
 *
 * @module
 */
import { loadLab } from "../lab/load.ts";
import { labDown, labUp } from "../runtime/session.ts";
import { readPlacements } from "../workloads/placements.ts";
import { migrateWorkload, type MigrationReport } from "../migrate/lab_migration.ts";
import type { PhaseName } from "../migrate/run.ts";
import type { Lab } from "../lab/types.ts";
import { silentProgress } from "../progress.ts";
import { type LatencyStats, latencyStats } from "../p4runtime/bench.ts";

/**
 * The lab with its counter client sending one request every `intervalMs` (counter_client's
 * `-i`) instead of what the lab file says: a finer client resolves the outage more finely, and
 * benches comparing two migrations give both the same client.
 */
export function withClientInterval(lab: Lab, intervalMs: number): Lab {
  return withClientOptions(lab, { "-i": String(intervalMs) });
}

/** The lab with its counter client's options `options` (flag → value) set, replacing its own. */
export function withClientOptions(lab: Lab, options: Record<string, string>): Lab {
  const workloads = lab.workloads.map((w) => {
    if (w.role !== "client" || !/counter_client$/.test(w.command[0])) return w;
    const command = [...w.command];
    for (const [flag, value] of Object.entries(options)) {
      const i = command.indexOf(flag);
      if (i > 0) command.splice(i, 2);
      command.push(flag, value);
    }
    return { ...w, command };
  });
  return { ...lab, workloads };
}

export interface LabTimingResult {
  lab: string;
  /** `lab up` from nothing (images already built), ms. */
  upMs: number[];
  downMs: number[];
}

/** Brings a lab up and down `rounds` times (after one untimed round that builds images). */
export async function benchLabUpDown(labName: string, rounds = 3): Promise<LabTimingResult> {
  const lab = await loadLab(labName);
  const upMs: number[] = [];
  const downMs: number[] = [];
  await labDown(lab);
  for (let i = 0; i <= rounds; i++) {
    let t = performance.now();
    await labUp(lab);
    const up = performance.now() - t;
    t = performance.now();
    await labDown(lab);
    const down = performance.now() - t;
    if (i > 0) {
      upMs.push(up);
      downMs.push(down);
    }
  }
  return { lab: lab.name, upMs, downMs };
}

export interface MigrationBenchResult {
  lab: string;
  workload: string;
  migrations: number;
  /** Migrations that kept every client connection. */
  kept: number;
  downtime: LatencyStats;
  frozen: LatencyStats;
  phases: Partial<Record<PhaseName, LatencyStats>>;
  reports: MigrationReport[];
}

/**
 * Migrates a lab's server back and forth `count` times between two hosts; `clientIntervalMs`
 * sets the lab client's request interval (default: the lab file's).
 */
export async function benchMigrations(
  labName: string,
  workload: string,
  hosts: [string, string],
  count = 10,
  options: { clientIntervalMs?: number } = {},
): Promise<MigrationBenchResult> {
  const loaded = await loadLab(labName);
  const lab = options.clientIntervalMs
    ? withClientInterval(loaded, options.clientIntervalMs)
    : loaded;
  await labDown(lab);
  await labUp(lab);
  const reports: MigrationReport[] = [];
  try {
    const placements = await readPlacements(lab.runDir!);
    let here = placements.find((p) => p.name === workload)?.host ?? hosts[0];
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < count; i++) {
      const to = here === hosts[0] ? hosts[1] : hosts[0];
      const report = await migrateWorkload(lab, {
        workload,
        to,
        progress: silentProgress,
        settleMs: 700,
      });
      reports.push(report);
      if (report.outcome !== "migrated") break;
      here = to;
    }
  } finally {
    await labDown(lab);
  }
  const phases: MigrationBenchResult["phases"] = {};
  for (const name of ["dump", "transfer", "rewrite", "restore", "switch", "cleanup"] as const) {
    const samples = reports.map((r) =>
      r.phases.filter((p) => p.phase === name).reduce((a, p) => a + p.ms, 0)
    );
    phases[name] = latencyStats(samples);
  }
  return {
    lab: lab.name,
    workload,
    migrations: reports.length,
    kept: reports.filter((r) => r.outcome === "migrated" && r.downtime && !r.downtime.anyBroken)
      .length,
    downtime: latencyStats(reports.map((r) => r.downtime?.spanMs ?? NaN)),
    frozen: latencyStats(reports.map((r) => r.frozenMs)),
    phases,
    reports,
  };
}
