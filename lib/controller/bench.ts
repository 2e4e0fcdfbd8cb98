/**
 * Measures the switch-update part of a migration as the migration code sees it: `PUT
 * /backends/{id}` round trips through the controller's HTTP API, alternating a backend between
 * two hosts, with the controller's own account of its Write RPC for each.
 *
 * @module
 */
import { latencyStats } from "../p4runtime/bench.ts";
import type { ControllerApi } from "./api_client.ts";

export interface MigrateBenchOptions {
  /** The backend to move (id or current host). */
  backend: number | string;
  /** The two hosts to alternate between; the backend starts on neither or the first. */
  hosts: [string, string];
  /** Migrations to time (default 50). */
  rounds?: number;
  /** Untimed migrations first (default 4). */
  warmup?: number;
}

/** Latency summary, milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface MigrateBenchResult {
  rounds: number;
  /** HTTP round trip of `PUT /backends/{id}` as the client sees it. */
  http: LatencySummary;
  /** The controller's work (plan, Write RPC, save state), inside that round trip. */
  controller: LatencySummary;
  /** The controller's Write RPC to the switch, inside that. */
  switchWrite: LatencySummary;
}

/** Summarises samples (nearest-rank percentiles, as {@link latencyStats}), rounded to µs. */
export function summarize(samples: readonly number[]): LatencySummary {
  const s = latencyStats(samples);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: round(s.p50Ms),
    p90: round(s.p90Ms),
    p99: round(s.p99Ms),
    max: round(s.maxMs),
    mean: round(s.meanMs),
  };
}

/** Migrates a backend back and forth through the API and times each migration. */
export async function benchApiMigrations(
  api: ControllerApi,
  options: MigrateBenchOptions,
): Promise<MigrateBenchResult> {
  const rounds = options.rounds ?? 50;
  const list = await api.backends();
  const start = list.backends.find((b) =>
    typeof options.backend === "number" ? b.id === options.backend : b.host === options.backend
  );
  let id = start?.id ?? options.backend;
  let at = start?.host;
  const http: number[] = [];
  const write: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < (options.warmup ?? 4) + rounds; i++) {
    const to = at === options.hosts[0] ? options.hosts[1] : options.hosts[0];
    const t0 = performance.now();
    const res = await api.migrateBackend(id, to);
    const elapsed = performance.now() - t0;
    id = res.backend.id;
    at = res.backend.host;
    if (i < (options.warmup ?? 4)) continue;
    http.push(elapsed);
    write.push(res.writeMs);
    total.push(res.totalMs);
  }
  return {
    rounds,
    http: summarize(http),
    controller: summarize(total),
    switchWrite: summarize(write),
  };
}
