/**
 * What the lab's own client says about a migration or a recovery: its JSON lines, read from its
 * log, are the only judge of whether connections were kept. A connection is broken when the
 * client logged its failure (reset, timeout, ...) and also when it has gone silent: the server
 * it talked to may be gone while the client still waits out its request timeout (20 s), and a
 * report written meanwhile must not call that connection kept.
 *
 * @module
 */
import type { Lab } from "../lab/types.ts";
import {
  type ClientAnswer,
  computeDowntime,
  type DowntimeReport,
  parseWorkloadLog,
} from "../workloads/client_log.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";

/** The client's view: downtime per connection, and which connections no longer answer. */
export interface ClientVerdict extends DowntimeReport {
  /** The client workload's name. */
  client: string;
  /**
   * Connections with no answer for longer than {@link silentAfterMs} when the log was read, and
   * no failure logged yet; they count in `anyBroken`.
   */
  silentConnections: number[];
}

/** A connection counts as silent after this long without an answer (or 5 normal gaps). */
export const SILENT_AFTER_MS = 1000;

/** The connections in `verdict` whose last answer is older than their silence threshold. */
function silentConnections(report: DowntimeReport, lastAt: Map<number, number>, now: number) {
  return report.connections.filter((c) => {
    if (c.broken) return false;
    const last = lastAt.get(c.conn);
    return last === undefined ||
      now - last > Math.max(SILENT_AFTER_MS, 5 * c.thresholdMs);
  }).map((c) => c.conn);
}

export interface VerdictOptions {
  /** Unix ms the migration (or recovery) began: the outage is looked for from there. */
  sinceMs: number;
  /**
   * While a connection is silent, read the log again for up to this long (default 0): a
   * connection in TCP's retransmission backoff answers at its next retransmission.
   */
  waitMs?: number;
}

/**
 * The verdict of the lab's counter client (undefined when the lab has none), from its log.
 */
export async function clientVerdict(
  lab: Lab,
  placements: readonly WorkloadPlacement[],
  options: VerdictOptions,
): Promise<ClientVerdict | undefined> {
  const client = lab.workloads.find((w) =>
    w.role === "client" && /counter_client/.test(w.command[0])
  );
  const placement = client && placements.find((p) => p.name === client.name);
  if (!placement) return undefined;
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    const text = await Deno.readTextFile(placement.logFile).catch(() => "");
    const now = Date.now();
    const records = parseWorkloadLog(text, placement.logFile);
    const report = computeDowntime(records, { migrationStartMs: options.sinceMs });
    const lastAt = new Map<number, number>();
    for (const r of records) {
      if (r.kind === "answer") {
        lastAt.set(r.conn, Math.max(lastAt.get(r.conn) ?? 0, (r as ClientAnswer).at));
      }
    }
    const silent = silentConnections(report, lastAt, now);
    if (!silent.length || Date.now() >= deadline) {
      return {
        client: placement.name,
        ...report,
        anyBroken: report.anyBroken || silent.length > 0,
        silentConnections: silent,
      };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One line for the terminal: downtime, broken or silent connections, counters. */
export function formatVerdict(d: ClientVerdict): string {
  const failed = d.brokenConnections;
  const problems = [
    ...(failed.length ? [`BROKEN connections: ${failed.join(", ")}`] : []),
    ...(d.silentConnections.length
      ? [`connections NOT answering: ${d.silentConnections.join(", ")}`]
      : []),
  ];
  return `client ${d.client}: downtime ${d.spanMs.toFixed(0)} ms over ${d.connections.length} ` +
    `connection(s), worst ${d.maxDowntimeMs.toFixed(0)} ms; ` +
    (problems.length ? problems.join("; ") : "every connection kept") +
    (d.countsContinuous ? ", counters continuous" : ", counters NOT continuous");
}

/** Whether the client saw every connection kept with its counter continuous. */
export function clientKept(d: ClientVerdict | undefined): boolean {
  return d === undefined || (!d.anyBroken && d.countsContinuous);
}
