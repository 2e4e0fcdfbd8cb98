/**
 * Migration between two simulated machines against the server's memory: downtime (what the
 * client saw) and total migration time (until the last byte of memory is on the target) for
 * stop-and-copy and post-copy (`--lazy`), across a 1 Gbit/s underlay (with 0.5 ms of delay where
 * `tc` has netem; reported either way). Pre-copy runs only where the kernel tracks dirty memory
 * and migrations between machines take it; otherwise it is skipped with the reason.
 *
 * Each memory size gets its own lab (lab/process-machines.yaml with a server holding that many
 * MB, resident and touched), brought up, migrated h2 -> h3 and back per mode, and taken down.
 *
 * @module
 */
import { criuCanTrackMemory } from "../criu/checkpoint.ts";
import { parseLabText } from "../lab/parse.ts";
import { labDefinitionsDir } from "../lab/paths.ts";
import { readUnderlayStatus, type UnderlayShaping } from "../machines/apply.ts";
import { migrateWorkload, type MigrationReport } from "../migrate/lab_migration.ts";
import { silentProgress } from "../progress.ts";
import { lineChartSvg } from "../report/lines.ts";
import { labDown, labUp } from "../runtime/session.ts";

export type BenchMode = "stop-and-copy" | "lazy";

export interface MachinesBenchOptions {
  /** Server memory sizes, MB (default 16, 128, 512, 1024). */
  sizesMb?: number[];
  /** Migrations per mode and size, alternating h2 -> h3 and back (default 2). */
  runs?: number;
  /** Underlay rate (default 1gbit) and delay (default 0.5ms) of both simulated machines. */
  rate?: string;
  delay?: string;
  onMigration?: (line: string) => void;
}

export interface MachinesPoint {
  mode: BenchMode;
  memoryMb: number;
  /** Client-observed downtime, ms (the worst connection's), per run. */
  downtimeMs: number[];
  /** Frozen window (dump start -> switch updated), ms, per run. */
  frozenMs: number[];
  /** From the migration's start until all memory is on the target, ms, per run. */
  totalMs: number[];
  /** Post-copy: pages that faulted before they arrived, per run. */
  pagesFaulted?: number[];
  /** Each phase's time, ms, per run (where the frozen window goes). */
  phases: Record<string, number[]>;
  /** Every run kept the client's connection. */
  kept: number;
  runs: number;
}

export interface MachinesBenchResult {
  rate: string;
  delay: string;
  underlay: UnderlayShaping[];
  points: MachinesPoint[];
  /** Modes not measured, with the reason. */
  skipped: { mode: string; reason: string }[];
  /** Post-copy at the largest size against the smallest: downtime ratio (done when <= 2). */
  lazyDowntimeRatio?: number;
  /** The machine's load average (1, 5, 15 min) before and after: the times depend on it. */
  loadAverage: { before: number[]; after: number[] };
}

function median(values: number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** From the migration's start until every page is on the target. */
export function totalMigrationMs(r: MigrationReport): number {
  const pc = r.machines?.postCopy;
  const restore = r.phases.find((p) => p.phase === "restore" && p.ok);
  return pc?.ok && restore ? Math.max(r.wallMs, restore.startMs + pc.allPagesMs) : r.wallMs;
}

/** The bench lab: the shipped machines lab with the server's memory and the underlay set. */
export function benchLabText(base: string, memoryMb: number, rate: string, delay: string): string {
  return base
    .replace(/^name: .*$/m, "name: bench-machines")
    .replace(/^id: .*$/m, "id: bmach")
    .replace(/\{ rate: [^,]+, delay: [^}]+ \}/g, `{ rate: ${rate}, delay: ${delay} }`)
    .replace(
      'command: [counter_server, "{port}"]',
      `command: [counter_server, "{port}", 0.0.0.0, "${memoryMb}"]`,
    );
}

/** Runs the bench (root, netns, CRIU with userfaultfd, BMv2). */
export async function benchMachines(
  options: MachinesBenchOptions = {},
): Promise<MachinesBenchResult> {
  const sizes = options.sizesMb ?? [16, 128, 512, 1024];
  const runs = options.runs ?? 2;
  const rate = options.rate ?? "1gbit";
  const delay = options.delay ?? "0.5ms";
  const log = options.onMigration ?? (() => {});
  const loadBefore = Deno.loadavg();
  const base = await Deno.readTextFile(`${labDefinitionsDir()}/process-machines.yaml`);
  const skipped: MachinesBenchResult["skipped"] = [];
  skipped.push({
    mode: "pre-copy (--pre-dump)",
    reason: await criuCanTrackMemory()
      ? "pre-dump rounds between machines are not supported yet"
      : "this kernel lacks soft-dirty tracking (criu check --feature mem_dirty_track fails)",
  });
  const points: MachinesPoint[] = [];
  let underlay: UnderlayShaping[] = [];
  const dir = await Deno.makeTempDir({ prefix: "p4cf-bench-machines-" });
  try {
    for (const memoryMb of sizes) {
      const file = `${dir}/bench-machines-${memoryMb}.yaml`;
      const text = benchLabText(base, memoryMb, rate, delay);
      await Deno.writeTextFile(file, text);
      const lab = parseLabText(text, file);
      await labDown(lab).catch(() => {});
      try {
        await labUp(lab, { progress: silentProgress });
        underlay = await readUnderlayStatus(lab.runDir!);
        await new Promise((r) => setTimeout(r, 500));
        let at = "h2";
        for (const mode of ["stop-and-copy", "lazy"] as const) {
          const point: MachinesPoint = {
            mode,
            memoryMb,
            downtimeMs: [],
            frozenMs: [],
            totalMs: [],
            ...(mode === "lazy" ? { pagesFaulted: [] } : {}),
            phases: {},
            kept: 0,
            runs: 0,
          };
          for (let i = 0; i < runs; i++) {
            const to = at === "h2" ? "h3" : "h2";
            const r = await migrateWorkload(lab, {
              workload: "server",
              to,
              lazy: mode === "lazy",
              settleMs: 800,
            });
            if (r.outcome === "migrated" || r.outcome === "switch-failed") at = to;
            const ok = r.outcome === "migrated" && r.downtime !== undefined &&
              !r.downtime.anyBroken &&
              r.machines?.postCopy?.ok !== false;
            point.runs++;
            if (ok) point.kept++;
            point.downtimeMs.push(r.downtime?.maxDowntimeMs ?? NaN);
            point.frozenMs.push(r.frozenMs);
            point.totalMs.push(totalMigrationMs(r));
            if (r.machines?.postCopy) point.pagesFaulted!.push(r.machines.postCopy.pagesFaulted);
            for (const p of r.phases.filter((p) => p.ok)) {
              (point.phases[p.phase] ??= []).push(p.ms);
            }
            log(
              `${memoryMb} MB ${mode} -> ${to}: ${r.outcome}, downtime ${
                (r.downtime?.maxDowntimeMs ?? NaN).toFixed(0)
              } ms, total ${totalMigrationMs(r).toFixed(0)} ms${
                ok ? "" : ` (${r.error ?? "connection broken"})`
              }`,
            );
            if (!(r.outcome === "migrated" || r.outcome === "switch-failed")) break;
          }
          points.push(point);
        }
      } finally {
        await labDown(lab, { progress: silentProgress }).catch(() => {});
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const lazy = points.filter((p) => p.mode === "lazy");
  const small = lazy.find((p) => p.memoryMb === Math.min(...sizes));
  const large = lazy.find((p) => p.memoryMb === Math.max(...sizes));
  return {
    rate,
    delay,
    underlay,
    points,
    skipped,
    loadAverage: { before: loadBefore, after: Deno.loadavg() },
    ...(small && large && sizes.length > 1
      ? { lazyDowntimeRatio: median(large.downtimeMs) / median(small.downtimeMs) }
      : {}),
  };
}

/** The table's rows: per mode and size, medians of the runs. */
export function machinesRows(r: MachinesBenchResult): string[][] {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "-");
  return r.points.map((p) => [
    p.mode,
    String(p.memoryMb),
    f(median(p.downtimeMs)),
    f(median(p.frozenMs)),
    f(median(p.phases.dump ?? [])),
    f(median(p.phases.restore ?? [])),
    f(median(p.totalMs)),
    p.pagesFaulted ? f(median(p.pagesFaulted)) : "",
    `${p.kept}/${p.runs}`,
  ]);
}

export const MACHINES_HEADER = [
  "mode",
  "memory MB",
  "downtime ms",
  "frozen ms",
  "dump ms",
  "restore ms",
  "total ms",
  "pages faulted",
  "kept",
];

/** Downtime and total time against memory, one line each per mode. */
export function machinesSvg(r: MachinesBenchResult): string {
  const sizes = [...new Set(r.points.map((p) => p.memoryMb))].sort((a, b) => a - b);
  const series = (mode: BenchMode, key: "downtimeMs" | "totalMs") =>
    sizes.map((mb) => {
      const p = r.points.find((x) => x.mode === mode && x.memoryMb === mb);
      return p ? median(p[key]) : undefined;
    });
  const delay = r.underlay.find((u) => u.delay);
  const delayNote = delay
    ? delay.delayApplied ? `${r.delay} delay` : `${r.delay} delay not applied (no netem here)`
    : "no delay";
  return lineChartSvg([
    { label: "stop-and-copy: downtime", values: series("stop-and-copy", "downtimeMs"), color: 0 },
    { label: "post-copy (--lazy): downtime", values: series("lazy", "downtimeMs"), color: 1 },
    {
      label: "stop-and-copy: total",
      values: series("stop-and-copy", "totalMs"),
      color: 0,
      dashed: true,
    },
    { label: "post-copy: all pages in", values: series("lazy", "totalMs"), color: 1, dashed: true },
  ], {
    title: "Migration between two simulated machines: downtime and total time vs memory",
    subtitle: `underlay ${r.rate}, ${delayNote}; memory resident and touched; medians; load ` +
      `average ${r.loadAverage.before[0].toFixed(1)} -> ${r.loadAverage.after[0].toFixed(1)}`,
    xLabel: "server memory (MB)",
    yLabel: "time",
    categories: sizes.map(String),
  });
}
