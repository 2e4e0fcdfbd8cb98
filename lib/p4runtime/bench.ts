/**
 * P4Runtime write benchmarks against a connected switch: single-MODIFY round-trip latency (what a
 * migration's switch update costs) and INSERT throughput in batches and one per request. Returns
 * plain data; printing is the caller's job. Leaves the table as it found it (deletes what it
 * inserted), but it needs keys that are not already in the table.
 *
 * @module
 */
import process from "node:process";
import { UserError } from "../errors.ts";
import type { P4RuntimeClient } from "./client.ts";
import type { BitValue } from "./encoding.ts";
import { buildTableEntry, type EntrySpec, type MatchInput, tableUpdate } from "./entries.ts";
import { UpdateType } from "./messages.ts";
import type { BusyPollCounts } from "./transport/types.ts";

export interface BenchOptions {
  /** Table to write (names as in {@link EntrySpec}). */
  table: string;
  /** Action of the entries. */
  action: string;
  /** Match of the i-th entry; must differ for different i. */
  match: (i: number) => Readonly<Record<string, MatchInput>>;
  /** Parameters of the i-th entry (MODIFY alternates between params(0) and params(1)). */
  params: (i: number) => Readonly<Record<string, BitValue>>;
  /** Priority, for tables that need one. */
  priority?: number;
  /**
   * Timed MODIFYs (default 1000) after `warmup` untimed ones (default 100; 0 also skips the
   * untimed insert/delete round before everything timed).
   */
  modifyIterations?: number;
  warmup?: number;
  /** Rounds of the batched INSERT/DELETE; the median is reported (default 3). */
  batchedRounds?: number;
  /** Entries inserted in batches (default 10,000) and the batch size (default 1000). */
  insertCount?: number;
  batchSize?: number;
  /** Entries inserted one per request, for comparison (default 2000). */
  singleInsertCount?: number;
}

export interface LatencyStats {
  iterations: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export interface Throughput {
  entries: number;
  /** Updates per WriteRequest. */
  batchSize: number;
  seconds: number;
  entriesPerSecond: number;
}

export interface BenchResult {
  modify: LatencyStats;
  /**
   * CPU time of this whole process (user + system, every thread) per timed MODIFY, µs: what the
   * client costs the machine, which on a small machine the switch competes for.
   */
  modifyCpuUs: number;
  /**
   * The client's own time per MODIFY, µs (p50): the round trip less the wait from the request
   * leaving to the answer arriving (building, encoding, framing, decoding). Only with a
   * transport that reports call timing (ours, not grpc-js).
   */
  modifyOwnUs?: number;
  /** How the timed MODIFYs' busy-polls ended, with a transport that busy-polls. */
  busyPolls?: BusyPollCounts;
  batchedInsert: Throughput;
  batchedDelete: Throughput;
  singleInsert: Throughput;
}

/** The q-quantile (0..1) of sorted samples, nearest-rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Latency statistics of samples in milliseconds. */
export function latencyStats(samplesMs: readonly number[]): LatencyStats {
  const s = [...samplesMs].sort((a, b) => a - b);
  return {
    iterations: s.length,
    p50Ms: quantile(s, 0.5),
    p90Ms: quantile(s, 0.9),
    p95Ms: quantile(s, 0.95),
    p99Ms: quantile(s, 0.99),
    meanMs: s.reduce((a, b) => a + b, 0) / (s.length || 1),
    maxMs: s[s.length - 1] ?? NaN,
  };
}

/** Throughput of `entries` written in `ms` milliseconds. */
export function throughput(entries: number, batchSize: number, ms: number): Throughput {
  const seconds = ms / 1000;
  return { entries, batchSize, seconds, entriesPerSecond: entries / seconds };
}

/**
 * Runs the benchmarks. Entry building (names to ids, value encoding) is inside the timed part, so
 * the numbers are what a controller gets end to end.
 */
export async function benchP4Runtime(
  client: P4RuntimeClient,
  options: BenchOptions,
): Promise<BenchResult> {
  const info = client.p4info;
  if (!info) {
    throw new UserError("benchP4Runtime needs a client with a P4Info", {
      hint: "pass p4info to P4RuntimeClient.connect",
    });
  }
  const spec = (i: number, paramsOf = i): EntrySpec => ({
    table: options.table,
    action: options.action,
    match: options.match(i),
    params: options.params(paramsOf),
    priority: options.priority,
  });
  const iterations = options.modifyIterations ?? 1000;
  const warmup = options.warmup ?? 100;
  const insertCount = options.insertCount ?? 10_000;
  const batchSize = options.batchSize ?? 1000;
  const singleCount = options.singleInsertCount ?? 2000;
  const table = info.table(options.table);
  const needed = Math.max(insertCount, singleCount);
  if (table.size && table.size < needed) {
    throw new UserError(
      `Table "${table.name}" holds ${table.size} entries; the benchmark inserts ${needed}`,
      { hint: "lower insertCount/singleInsertCount or benchmark a larger table" },
    );
  }

  // An untimed round of the batched INSERT and DELETE first, so everything timed runs warm (JIT,
  // heap sizes), as in a controller that has been programming its switch.
  if (warmup > 0) {
    const specs = Array.from({ length: insertCount }, (_, i) => spec(i));
    await client.writeEntries(UpdateType.INSERT, specs, { batchSize });
    await client.writeEntries(UpdateType.DELETE, specs, { batchSize });
  }

  // Single MODIFY round trips on one entry, alternating between two parameter sets.
  await client.insertEntry(spec(0));
  const samples: number[] = [];
  const own: number[] = [];
  let cpu = { user: 0, system: 0 };
  let polledBefore: BusyPollCounts | undefined;
  let busyPolls: BusyPollCounts | undefined;
  try {
    for (let i = 0; i < warmup + iterations; i++) {
      if (i === warmup) {
        cpu = process.cpuUsage();
        polledBefore = client.busyPolls;
      }
      const t0 = performance.now();
      await client.modifyEntry(spec(0, i & 1));
      const t1 = performance.now();
      if (i < warmup) continue;
      samples.push(t1 - t0);
      const timing = client.lastCallTiming;
      if (timing) own.push(t1 - t0 - (timing.answeredAt - timing.sentAt));
    }
    cpu = process.cpuUsage(cpu);
    const polled = client.busyPolls;
    if (polled && polledBefore) {
      busyPolls = {
        answered: polled.answered - polledBefore.answered,
        timedOut: polled.timedOut - polledBefore.timedOut,
      };
    }
  } finally {
    await client.deleteEntry(spec(0));
  }

  // Batched INSERT, then batched DELETE of the same entries; the median of a few rounds, as one
  // round on a busy 2-core machine can be off by a quarter.
  const rounds = Math.max(1, options.batchedRounds ?? 3);
  const insertMs: number[] = [];
  const deleteMs: number[] = [];
  // Each batch is built (names to ids, values encoded) while the switch applies the one before.
  const insert = (i: number) => tableUpdate(UpdateType.INSERT, buildTableEntry(info, spec(i)));
  const remove = (i: number) =>
    tableUpdate(UpdateType.DELETE, buildTableEntry(info, spec(i), false));
  for (let round = 0; round < rounds; round++) {
    let t0 = performance.now();
    await client.writeEach(insertCount, insert, { batchSize });
    insertMs.push(performance.now() - t0);
    t0 = performance.now();
    await client.writeEach(insertCount, remove, { batchSize });
    deleteMs.push(performance.now() - t0);
  }
  const batchedInsert = throughput(insertCount, batchSize, latencyStats(insertMs).p50Ms);
  const batchedDelete = throughput(insertCount, batchSize, latencyStats(deleteMs).p50Ms);

  // One INSERT per request.
  const t0 = performance.now();
  for (let i = 0; i < singleCount; i++) await client.insertEntry(spec(i));
  const singleInsert = throughput(singleCount, 1, performance.now() - t0);
  await client.writeEach(singleCount, remove, { batchSize });

  return {
    modify: latencyStats(samples),
    modifyCpuUs: (cpu.user + cpu.system) / iterations,
    ...(own.length ? { modifyOwnUs: latencyStats(own).p50Ms * 1000 } : {}),
    ...(busyPolls ? { busyPolls } : {}),
    batchedInsert,
    batchedDelete,
    singleInsert,
  };
}
