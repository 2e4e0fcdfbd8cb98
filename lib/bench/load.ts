/**
 * Many connections through one migration: a process lab whose client holds `connections`
 * connections (each one request every `intervalMs`), migrated there and back, once with each
 * connection lock. Per connection, the outage its client saw (its longest wait for an answer
 * while the server moved); across connections, the median, p90 and worst, and worst / median
 * (the goal: <= 1.5, every connection kept).
 *
 * The ways compared ({@link LOAD_VARIANTS}): ours, where the lock refuses the clients' segments
 * with ICMP errors while the server is frozen (their retransmission backoff is reverted,
 * lib/criu/port_lock.ts) and the refused segments are handed to the restored server right after
 * the switch update (lib/net/segment_tap.ts); the same without that hand-over (each client waits
 * for its retransmission timer); and a lock that drops them silently (CRIU's behaviour: each
 * client also backs off on its own schedule).
 *
 * @module
 */
import { findLab } from "../lab/find.ts";
import { parseLabFile } from "../lab/parse.ts";
import { repoRoot } from "../lab/paths.ts";
import type { Lab } from "../lab/types.ts";
import { labDown, labUp } from "../runtime/session.ts";
import { migrateWorkload } from "../migrate/lab_migration.ts";
import type { ProcessNetworkLock } from "../migrate/process_driver.ts";
import { LOAD_VARIANTS, type LoadVariant } from "./load_variants.ts";
import { silentProgress } from "../progress.ts";
import { withClientOptions } from "./labs.ts";
import { type ClientRecord, parseWorkloadLog } from "../workloads/client_log.ts";
import { readPlacements } from "../workloads/placements.ts";
import { clientAnswering } from "../workloads/client_ready.ts";

/** The lab with its counter client holding `connections` connections, `intervalMs` apart. */
export function withClientLoad(lab: Lab, connections: number, intervalMs: number): Lab {
  return withClientOptions(lab, { "-i": String(intervalMs), "-c": String(connections) });
}

/**
 * Each connection's outage as its client saw it (pure): the longest wait for an answer among
 * the requests in flight at some point of [startMs, endMs] (sent before its end, answered after
 * its start). Unlike the gaps between answers, it does not depend on the request interval.
 */
export function requestOutages(
  records: readonly ClientRecord[],
  startMs: number,
  endMs: number,
): Map<number, number> {
  const worst = new Map<number, number>();
  for (const r of records) {
    if (r.kind !== "answer" || r.t > endMs || r.at < startMs) continue;
    worst.set(r.conn, Math.max(worst.get(r.conn) ?? 0, r.latencyMs));
  }
  return worst;
}

/**
 * A copy of a shipped lab under a name and id of the bench's own (`<name>-load`, `<id>l`), written
 * to .run/bench/ for the lab's controller to read: the bench never touches a lab a user (or
 * another bench) has up.
 */
async function benchCopy(labName: string): Promise<Lab> {
  const source = findLab(labName);
  const name = `${labName}-load`;
  const text = (await Deno.readTextFile(source))
    .replace(/^name: .*$/m, `name: ${name}`)
    .replace(/^id: (.*)$/m, (_, id: string) => `id: ${id.trim()}l`);
  const dir = `${repoRoot()}/.run/bench`;
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}/${name}.yaml`;
  await Deno.writeTextFile(file, text);
  return await parseLabFile(file);
}

/** Median, p90 and worst of per-connection outages (pure). */
export function outageSpread(outagesMs: readonly number[]) {
  const s = [...outagesMs].sort((a, b) => a - b);
  const at = (q: number) => s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
  const median = at(0.5);
  const worst = s.length ? s[s.length - 1] : NaN;
  return { medianMs: median, p90Ms: at(0.9), worstMs: worst, worstOverMedian: worst / median };
}

export interface LoadMigration {
  lock: ProcessNetworkLock;
  /** Absent in reports from before the hand-over existed (they had none). */
  replay?: boolean;
  to: string;
  outcome: string;
  frozenMs: number;
  connections: number;
  kept: number;
  medianMs: number;
  p90Ms: number;
  worstMs: number;
  worstOverMedian: number;
}

export interface LoadBenchResult {
  lab: string;
  connections: number;
  intervalMs: number;
  migrations: LoadMigration[];
}

/** Migrates the lab's server there and back under load, once per lock in `locks`. */
export async function benchLoad(options: {
  connections?: number;
  intervalMs?: number;
  variants?: readonly LoadVariant[];
  labName?: string;
} = {}): Promise<LoadBenchResult> {
  const connections = options.connections ?? 1000;
  const intervalMs = options.intervalMs ?? 300;
  const lab = withClientLoad(
    await benchCopy(options.labName ?? "process-migration"),
    connections,
    intervalMs,
  );
  const migrations: LoadMigration[] = [];
  for (const { lock, replay } of options.variants ?? LOAD_VARIANTS) {
    await labDown(lab, { progress: silentProgress });
    await labUp(lab, { progress: silentProgress });
    try {
      // Every connection accepted and answering before the first migration.
      await clientAnswering(lab, connections);
      const client = (await readPlacements(lab.runDir!)).find((p) => p.name === "client")!;
      for (const to of ["h3", "h2"]) {
        const report = await migrateWorkload(lab, {
          workload: "server",
          to,
          networkLock: lock,
          replaySegments: replay,
          progress: silentProgress,
          settleMs: 3000,
        });
        const conns = report.downtime?.connections ?? [];
        const silent = new Set(report.downtime?.silentConnections ?? []);
        const start = Date.parse(report.startedAt);
        const log = await Deno.readTextFile(client.logFile);
        const outages = requestOutages(
          parseWorkloadLog(log, client.logFile),
          start,
          start + report.wallMs,
        );
        migrations.push({
          lock,
          replay,
          to,
          outcome: report.outcome,
          frozenMs: report.frozenMs,
          connections: conns.length,
          kept: conns.filter((c) => !c.broken && !silent.has(c.conn)).length,
          ...outageSpread([...outages.values()]),
        });
        if (report.outcome !== "migrated") break;
      }
    } finally {
      await labDown(lab, { progress: silentProgress });
    }
  }
  return { lab: lab.name, connections, intervalMs, migrations };
}
