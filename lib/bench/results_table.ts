/**
 * README.md's results, generated from bench reports (report/bench-<time>.json, as
 * tasks/bench.ts saves them) instead of copied by hand: a list of the runs (machine, date, load
 * average) and one markdown table, measure | ours | peer | ratio | target | met?, with rows for
 * the sections a report holds and none for those it lacks. Pure: lib/bench/readme_results.ts
 * reads the files and writes README.md.
 *
 * ```ts
 * const block = resultsBlock([{ file: "report/bench-x.json", report: JSON.parse(text) }]);
 * const readme = spliceResults(await Deno.readTextFile("README.md"), block);
 * ```
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { LatencyStats } from "../p4runtime/bench.ts";
import type { MigrateBenchResult } from "../controller/bench.ts";
import type { LabTimingResult, MigrationBenchResult } from "./labs.ts";
import type { LoadBenchResult } from "./load.ts";
import { isOursLoad, loadVariantName } from "./load_variants.ts";
import type { MachinesBenchResult, MachinesPoint } from "./machines.ts";
import type { PeerLine, PeerReport, PeerSkipped } from "./peers.ts";
import type { PreDumpBenchResult } from "./predump.ts";
import type { P4RuntimeBench } from "./switch.ts";

/** What tasks/bench.ts records about the machine once per run (reports before it lack it). */
export interface MachineFacts {
  hostname: string;
  cpus: number;
  /** `Deno.osRelease()`. */
  kernel: string;
  /** Versions of the tools the benches drive, by label ("BMv2", "CRIU", "Podman"); found ones. */
  tools: Record<string, string>;
  /** /proc/loadavg's 1, 5 and 15 minute figures at the start and at the end of the run. */
  loadAverage: { before: number[]; after?: number[] };
}

/** One report/bench-<time>.json: each section present only when the run measured it. */
export interface BenchReport {
  startedAt: string;
  machine?: MachineFacts;
  p4runtime?: P4RuntimeBench;
  controller?: MigrateBenchResult;
  lab?: LabTimingResult;
  migration?: Omit<MigrationBenchResult, "reports">[];
  predump?: PreDumpBenchResult | { skipped: string };
  peers?: (PeerReport | PeerSkipped | { name: string; title: string; failed: string })[];
  /** One run per client pace (older reports: one object). */
  load?: LoadBenchResult | LoadBenchResult[];
  machines?: MachinesBenchResult;
}

/** A report with the path it was read from, as shown in the README. */
export interface BenchRun {
  file: string;
  report: BenchReport;
}

/** The markers around the generated block in README.md. */
export const RESULTS_BEGIN = "<!-- bench-results:begin -->";
export const RESULTS_END = "<!-- bench-results:end -->";

/** The sections a report can hold (those tasks/bench.ts runs). */
type Section = Exclude<keyof BenchReport, "startedAt" | "machine">;

/**
 * The targets of the absolute measures, as tasks/bench.ts prints them; the peers' goals on ratios
 * come with their reports.
 */
export const RESULT_TARGETS = {
  modifyP50Ms: 0.5,
  batchedInsertPerS: 50_000,
  controllerRssMb: 120,
  labUpMs: 5000,
  labDownMs: 3000,
  /** Client-observed downtime p50 by lab; a lab not listed has no target. */
  downtimeP50Ms: { "process-migration": 150, "host-containers": 600 } as Record<string, number>,
  rewriteP50Ms: 5,
  /** Worst over median wait of the connections, with the refusing lock. */
  loadWorstOverMedian: 1.5,
  /** Post-copy downtime at the largest memory over the smallest. */
  lazyDowntimeRatio: 2,
} as const;

/** One row of the table. */
interface Row {
  measure: string;
  ours: string;
  peer?: string;
  ratio?: string;
  target?: string;
  met?: boolean;
}

/** A number for a table cell: thousands separated, fewer decimals as it grows; "-" if none. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return "-";
  const digits = Math.abs(v) < 1 ? 3 : Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0;
  return v.toLocaleString("en-US", {
    minimumFractionDigits: 0,
    maximumFractionDigits: digits,
  });
}

const ms = (v: number) => `${formatNumber(v)} ms`;
const perS = (v: number) => `${formatNumber(Math.round(v))}/s`;
const mb = (v: number) => `${formatNumber(Math.round(v))} MB`;
const kept = (k: number, of: number) => `${k} of ${of} kept`;

function median(values: readonly number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function p4runtimeRows(r: P4RuntimeBench): Row[] {
  const t = RESULT_TARGETS;
  const b = r.batchedInsert;
  return [
    {
      measure: "P4Runtime MODIFY round trip p50",
      ours: ms(r.modify.p50Ms),
      target: `≤ ${t.modifyP50Ms} ms`,
      met: r.modify.p50Ms <= t.modifyP50Ms,
    },
    { measure: "P4Runtime MODIFY round trip p99", ours: ms(r.modify.p99Ms) },
    { measure: "P4Runtime INSERT, one per request", ours: perS(r.singleInsert.entriesPerSecond) },
    {
      measure: `P4Runtime INSERT ${formatNumber(b.entries)} in batches of ${b.batchSize}`,
      ours: perS(b.entriesPerSecond),
      target: `≥ ${formatNumber(t.batchedInsertPerS)}/s`,
      met: b.entriesPerSecond >= t.batchedInsertPerS,
    },
    {
      measure: `controller resident memory holding ${formatNumber(r.controllerMemory.entries)} ` +
        "entries",
      ours: `${mb(r.rssMbHolding10k)} (peak ${mb(r.controllerMemory.peakRssMb)})`,
      target: `≤ ${t.controllerRssMb} MB`,
      met: r.rssMbHolding10k <= t.controllerRssMb,
    },
  ];
}

function controllerRows(r: MigrateBenchResult): Row[] {
  return [{
    measure: `switch update through the controller (HTTP + P4Runtime MODIFY), ${r.rounds} rounds`,
    ours: `p50 ${ms(r.http.p50)} (switch Write ${ms(r.switchWrite.p50)}), p90 ${ms(r.http.p90)}`,
  }];
}

function labRows(r: LabTimingResult): Row[] {
  const t = RESULT_TARGETS;
  const up = median(r.upMs);
  const down = median(r.downMs);
  return [
    {
      measure: `\`lab up ${r.lab}\`, median of ${r.upMs.length}`,
      ours: ms(up),
      target: `≤ ${formatNumber(t.labUpMs)} ms`,
      met: up <= t.labUpMs,
    },
    {
      measure: `\`lab down ${r.lab}\`, median of ${r.downMs.length}`,
      ours: ms(down),
      target: `≤ ${formatNumber(t.labDownMs)} ms`,
      met: down <= t.labDownMs,
    },
  ];
}

/** What a lab migrates, for the measure's name. */
function migrationKind(lab: string): string {
  return lab === "process-migration"
    ? "process"
    : lab === "host-containers"
    ? "container"
    : lab === "kubernetes"
    ? "Kubernetes pod"
    : lab;
}

function migrationRows(runs: readonly Omit<MigrationBenchResult, "reports">[]): Row[] {
  return runs.flatMap((r) => {
    const target = RESULT_TARGETS.downtimeP50Ms[r.lab];
    const kind = migrationKind(r.lab);
    const phases = (["dump", "rewrite", "restore", "switch"] as const)
      .flatMap((name) => {
        const s: LatencyStats | undefined = r.phases[name];
        return s ? [`${name} ${formatNumber(s.p50Ms)}`] : [];
      });
    const rewrite = r.phases.rewrite;
    // The bench counts a failed migration's phases too (as far as it got): say so beside them.
    const failed = r.migrations - r.kept;
    const failedNote = failed ? `; ${failed} of ${r.migrations} runs failed` : "";
    const rows: Row[] = [
      {
        measure: `${kind} migration: client-observed downtime (${r.lab}, ${r.migrations} runs)`,
        ours: `p50 ${ms(r.downtime.p50Ms)}, p95 ${ms(r.downtime.p95Ms)}; ` +
          kept(r.kept, r.migrations),
        ...(target !== undefined
          ? {
            target: `p50 ≤ ${target} ms, all kept`,
            met: r.downtime.p50Ms <= target && r.kept === r.migrations,
          }
          : {}),
      },
      {
        measure: `${kind} migration: frozen window, dump to switch updated`,
        ours: `p50 ${ms(r.frozen.p50Ms)}${phases.length ? ` (${phases.join(", ")})` : ""}` +
          failedNote,
      },
    ];
    if (rewrite) {
      rows.push({
        measure: `${kind} migration: address rewrite in the checkpoint`,
        ours: `p50 ${ms(rewrite.p50Ms)}${failedNote}`,
        target: `≤ ${RESULT_TARGETS.rewriteP50Ms} ms`,
        met: rewrite.p50Ms <= RESULT_TARGETS.rewriteP50Ms && !failed,
      });
    }
    return rows;
  });
}

function predumpRows(r: PreDumpBenchResult): Row[] {
  return r.settings.map((s) => ({
    measure: `pre-dump, ${s.preDumpRounds} round(s), server with ${r.ballastMb} MB`,
    ours: `frozen p50 ${ms(s.frozen.p50Ms)}, downtime p50 ${ms(s.downtime.p50Ms)}; final dump ` +
      `${formatNumber(median(s.pagesWritten))} pages; ${kept(s.kept, s.migrations)}`,
  }));
}

/** A peer bench's name as the measure's prefix. */
const PEER_PREFIX: Record<string, string> = {
  p4runtime: "P4Runtime",
  container: "container migration",
};

function peerLineRow(report: PeerReport, l: PeerLine): Row {
  const value = (v: number) =>
    `${formatNumber(l.unit === "/s" ? Math.round(v) : v)}${
      l.unit.startsWith("/") ? "" : " "
    }${l.unit}`;
  const extras = (report.extraNames ?? [])
    .filter((n) => l.extra?.[n] !== undefined)
    .map((n) => `${n.replace(/^ours \((.*)\)$/, "$1")} ${value(l.extra![n])}`);
  return {
    measure: `${PEER_PREFIX[report.name] ?? report.name}: ${l.measure}`,
    ours: `${value(l.ours)}${extras.length ? ` (${extras.join(", ")})` : ""}`,
    peer: `${report.peerName}: ${value(l.peer)}`,
    ratio: `${l.ratio.toFixed(2)}×`,
    ...(l.goal
      ? { target: `ratio ${l.goal.replace("<=", "≤").replace(">=", "≥")}`, met: l.met }
      : {}),
  };
}

function peersRows(reports: NonNullable<BenchReport["peers"]>): Row[] {
  return reports.flatMap((r) => ("lines" in r ? r.lines.map((l) => peerLineRow(r, l)) : []));
}

function loadRows(load: LoadBenchResult | LoadBenchResult[]): Row[] {
  const goal = RESULT_TARGETS.loadWorstOverMedian;
  return [load].flat().flatMap((r) =>
    r.migrations.map((m) => ({
      measure: `${formatNumber(m.connections)} connections (a request each every ` +
        `${r.intervalMs} ms) through a process migration to ${m.to}, ${loadVariantName(m)}`,
      ours: `${kept(m.kept, m.connections)}; wait median ${ms(m.medianMs)}, worst ` +
        `${ms(m.worstMs)}, worst/median ${m.worstOverMedian.toFixed(2)}`,
      ...(isOursLoad(m)
        ? {
          target: `worst/median ≤ ${goal}, all kept`,
          met: m.worstOverMedian <= goal && m.kept === m.connections,
        }
        : {}),
    }))
  );
}

function machinesRows(r: MachinesBenchResult): Row[] {
  const modes = [...new Set(r.points.map((p) => p.mode))];
  const bySize = (points: MachinesPoint[], key: "downtimeMs" | "totalMs") =>
    points.map((p) => `${p.memoryMb} MB ${ms(median(p[key]))}`).join(", ");
  return modes.flatMap((mode) => {
    const points = r.points.filter((p) => p.mode === mode)
      .sort((a, b) => a.memoryMb - b.memoryMb);
    const name = mode === "lazy" ? "post-copy (--lazy)" : mode;
    const keptAll = points.reduce((n, p) => n + p.kept, 0);
    const runs = points.reduce((n, p) => n + p.runs, 0);
    const ratio = mode === "lazy" ? r.lazyDowntimeRatio : undefined;
    const first = points[0]?.memoryMb;
    const last = points.at(-1)?.memoryMb;
    return [
      {
        measure: `${name} between two machines (${r.rate} underlay), downtime by memory`,
        ours: `${bySize(points, "downtimeMs")}; ${kept(keptAll, runs)}` +
          (ratio !== undefined ? `; ${last} MB / ${first} MB: ${ratio.toFixed(2)}×` : ""),
        ...(ratio !== undefined
          ? {
            target: `${last} MB ≤ ${RESULT_TARGETS.lazyDowntimeRatio}× ${first} MB`,
            met: ratio <= RESULT_TARGETS.lazyDowntimeRatio,
          }
          : {}),
      },
      {
        measure: `${name} between two machines, total time (all memory on the target)`,
        ours: bySize(points, "totalMs"),
      },
    ];
  });
}

/** A section as the README shows it: its rows, and sentences for what it did not measure. */
type SectionView<S extends Section> = (value: NonNullable<BenchReport[S]>) => {
  rows: Row[];
  notes?: string[];
};

/** Every section's view, in the order the table shows them (that of the bench). */
const VIEWS: { [S in Section]: SectionView<S> } = {
  p4runtime: (v) => ({ rows: p4runtimeRows(v) }),
  controller: (v) => ({ rows: controllerRows(v) }),
  lab: (v) => ({ rows: labRows(v) }),
  migration: (v) => ({ rows: migrationRows(v) }),
  predump: (v) =>
    "skipped" in v ? { rows: [], notes: [`pre-dump skipped: ${v.skipped}`] } : {
      rows: predumpRows(v),
    },
  peers: (v) => ({
    rows: peersRows(v),
    notes: v.flatMap((r) =>
      "skipped" in r
        ? [`peers ${r.name} skipped: ${r.skipped}`]
        : "failed" in r
        ? [`peers ${r.name} failed: ${r.failed.split("\n")[0]}`]
        : []
    ),
  }),
  load: (v) => ({ rows: loadRows(v) }),
  machines: (v) => {
    const delay = v.underlay.find((u) => u.delay !== undefined);
    return {
      rows: machinesRows(v),
      notes: [
        ...v.skipped.map((s) => `machines ${s.mode} skipped: ${s.reason}`),
        ...(delay && !delay.delayApplied
          ? [`machines underlay: ${delay.note ?? `delay ${v.delay} not applied`}`]
          : []),
      ],
    };
  },
};
/** The sections the table shows, in its order. */
export const RESULT_SECTIONS = Object.keys(VIEWS) as readonly Section[];
const SECTIONS = RESULT_SECTIONS;

/** A section of a report, viewed (undefined when the report lacks it). */
function viewOf(section: Section, report: BenchReport) {
  const value = report[section];
  if (value === undefined) return undefined;
  return (VIEWS[section] as SectionView<Section>)(value as NonNullable<BenchReport[Section]>);
}

/** The load averages a run recorded (the machine's, else those of its sections). */
function loadAverages(report: BenchReport): string[] {
  const la = (v: number[]) => v.map((x) => x.toFixed(2)).join(" ");
  const span = (l: { before: number[]; after?: number[] }) =>
    l.after ? `${la(l.before)} → ${la(l.after)}` : `${la(l.before)} at the start`;
  if (report.machine) return [span(report.machine.loadAverage)];
  return [
    ...(report.peers ?? []).flatMap((r) =>
      "loadAverage" in r ? [`during peers ${r.name} ${span(r.loadAverage)}`] : []
    ),
    ...(report.machines ? [`during machines ${span(report.machines.loadAverage)}`] : []),
  ];
}

/** "2026-12-06 09:57 UTC". */
function when(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** One run described: file, date, machine, load average, the sections it gave. */
function runLine(run: BenchRun, sections: readonly Section[]): string {
  const m = run.report.machine;
  const machine = m
    ? ` on ${m.hostname}: ${m.cpus} CPUs, Linux ${m.kernel}${
      Object.entries(m.tools).map(([k, v]) => `, ${k} ${v}`).join("")
    }`
    : ", machine not recorded";
  const loads = loadAverages(run.report);
  const load = loads.length ? `; load average ${loads.join(", ")}` : "";
  const started = when(run.report.startedAt);
  return `${sections.join(", ")}: \`${run.file}\` (${started}${machine}${load}).`;
}

/** Escapes what would end a table cell. */
const cell = (s: string) => s.replaceAll("|", "\\|");

/** A markdown table padded as `deno fmt` pads it, so the README stays formatted. */
export function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const all = [header, ...rows].map((r) => header.map((_, i) => cell(r[i] ?? "")));
  const widths = header.map((_, i) => Math.max(3, ...all.map((r) => [...r[i]].length)));
  const pad = (s: string, w: number) => s + " ".repeat(w - [...s].length);
  const line = (r: string[]) => `| ${r.map((c, i) => pad(c, widths[i])).join(" | ")} |`;
  return [line(all[0]), line(widths.map((w) => "-".repeat(w))), ...all.slice(1).map(line)]
    .join("\n");
}

/**
 * The README's results block from one or more runs. Each section comes from the last run that
 * holds it; a section no run holds has no rows. Throws a UserError when no run holds any.
 */
export function resultsBlock(runs: readonly BenchRun[]): string {
  const from = new Map<Section, BenchRun>();
  for (const run of runs) {
    for (const s of SECTIONS) if (run.report[s] !== undefined) from.set(s, run);
  }
  if (!from.size) {
    throw new UserError(
      `No bench results in ${runs.map((r) => r.file).join(", ") || "the reports given"}`,
      { hint: "run `deno task bench <section…>` first; it saves report/bench-<time>.json" },
    );
  }
  const used = runs.filter((run) => [...from.values()].includes(run));
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const s of SECTIONS) {
    const run = from.get(s);
    if (!run) continue;
    const view = viewOf(s, run.report)!;
    rows.push(...view.rows);
    notes.push(...view.notes ?? []);
  }
  const anyPeer = rows.some((r) => r.peer !== undefined);
  const header = [
    "measure",
    "ours",
    ...(anyPeer ? ["peer, same run", "ours / peer"] : []),
    "target",
    "met?",
  ];
  const table = markdownTable(
    header,
    rows.map((r) => [
      r.measure,
      r.ours,
      ...(anyPeer ? [r.peer ?? "", r.ratio ?? ""] : []),
      r.target ?? "",
      r.met === undefined ? "" : r.met ? "yes" : "**no**",
    ]),
  );
  const intro = used.length === 1
    ? "Generated by `deno task bench --readme` from one run (load average: 1, 5 and 15 min):"
    : `Generated by \`deno task bench --readme\` from ${used.length} runs, each section from the ` +
      "last run that has it (load average: 1, 5 and 15 min):";
  const lines = [
    intro,
    "",
    ...used.map((run) => `- ${runLine(run, SECTIONS.filter((s) => from.get(s) === run))}`),
    // Only skips (a pre-dump run on a kernel without memory tracking): the notes say why.
    ...(rows.length ? ["", table] : []),
  ];
  if (notes.length) lines.push("", ...notes.map((n) => `- ${n}`));
  return wrapMarkdown(lines.join("\n"), 100);
}

/**
 * Fills paragraphs and list items to `width` columns as `deno fmt` does (words kept whole, code
 * spans too); tables and blank lines are left alone.
 */
export function wrapMarkdown(text: string, width: number): string {
  return text.split("\n").map((line) => {
    if (line.startsWith("|") || [...line].length <= width) return line;
    const prefix = line.startsWith("- ") ? "- " : "";
    const indent = " ".repeat(prefix.length);
    const words = line.slice(prefix.length).match(/(`[^`]*`\S*|\S+)/g) ?? [];
    const out: string[] = [];
    let cur = "";
    for (const word of words) {
      const next = cur ? `${cur} ${word}` : word;
      if ([...indent + next].length > width && cur) {
        out.push(cur);
        cur = word;
      } else cur = next;
    }
    if (cur) out.push(cur);
    return out.map((l, i) => (i ? indent : prefix) + l).join("\n");
  }).join("\n");
}

/**
 * README text with the block between {@link RESULTS_BEGIN} and {@link RESULTS_END} replaced.
 * Markers missing, repeated or out of order are a UserError saying where to put them.
 */
export function spliceResults(readme: string, block: string, file = "README.md"): string {
  const begin = readme.indexOf(RESULTS_BEGIN);
  const end = readme.indexOf(RESULTS_END);
  const hint = `put ${RESULTS_BEGIN} and ${RESULTS_END}, each on its own line, where the ` +
    "results go";
  if (begin < 0 || end < 0) {
    throw new UserError(
      `${file} has no ${begin < 0 ? RESULTS_BEGIN : RESULTS_END} marker`,
      { hint },
    );
  }
  if (
    end < begin || readme.indexOf(RESULTS_BEGIN, begin + 1) >= 0 ||
    readme.indexOf(RESULTS_END, end + 1) >= 0
  ) {
    throw new UserError(`${file}: the bench-results markers are repeated or out of order`, {
      hint,
    });
  }
  return `${readme.slice(0, begin + RESULTS_BEGIN.length)}\n\n${block.trim()}\n\n${
    readme.slice(end)
  }`;
}
