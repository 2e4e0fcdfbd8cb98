/**
 * The shape shared by the peer benches of `deno task bench peers`: each runs our code beside a
 * peer tool on the same machine in the same run, and reports lines of "ours, the peer's, the
 * ratio" against a goal on the ratio. tasks/bench.ts prints them, saves them as JSON and draws
 * one SVG bar chart; a new peer bench only adds itself to the list there.
 *
 * @module
 */
import type { BarPanel } from "../report/bars.ts";

/** One measure, ours beside the peer's. */
export interface PeerLine {
  measure: string;
  /** "µs", "/s", "ms"… */
  unit: string;
  better: "lower" | "higher";
  ours: number;
  peer: number;
  /** More of our variants measured in the same run (e.g. `{ "grpc-js": 412 }`), by name. */
  extra?: Record<string, number>;
  /** ours / peer. */
  ratio: number;
  /** The goal on the ratio ("<= 0.6", ">= 1.5"), and whether this run met it. */
  goal?: string;
  met?: boolean;
}

export interface PeerReport {
  /** Short name ("p4runtime"), the key in the JSON. */
  name: string;
  title: string;
  /** Names of the columns: ours, the peer, and `extra`'s keys in order. */
  oursName: string;
  peerName: string;
  extraNames?: string[];
  lines: PeerLine[];
  /** /proc/loadavg's three figures before and after (the machine may be shared). */
  loadAverage: { before: number[]; after: number[] };
  /** Everything measured, for the JSON. */
  details: unknown;
}

/** A peer bench that could not run here, with the reason. */
export interface PeerSkipped {
  name: string;
  title: string;
  skipped: string;
}

/** A peer bench as tasks/bench.ts runs it. */
export interface PeerBench {
  name: string;
  title: string;
  run(options: { runDir: string; log: (line: string) => void }): Promise<PeerReport | PeerSkipped>;
}

/**
 * A line with its ratio (ours / peer) checked against a goal: `max` for a ratio that must stay
 * at or below it, `min` for one that must reach it.
 */
export function peerLine(
  measure: string,
  unit: string,
  better: "lower" | "higher",
  ours: number,
  peer: number,
  goal: { max?: number; min?: number } = {},
  extra?: Record<string, number>,
): PeerLine {
  const ratio = ours / peer;
  const line: PeerLine = { measure, unit, better, ours, peer, ratio };
  if (extra) line.extra = extra;
  if (goal.max !== undefined) {
    line.goal = `<= ${goal.max}`;
    line.met = ratio <= goal.max;
  } else if (goal.min !== undefined) {
    line.goal = `>= ${goal.min}`;
    line.met = ratio >= goal.min;
  }
  return line;
}

const num = (v: number, unit: string) =>
  !Number.isFinite(v)
    ? "-"
    : unit === "/s"
    ? Math.round(v).toLocaleString("en-US")
    : String(+v.toFixed(v < 10 ? 2 : 1));

/** The table's header for a report: measure, ours, extras, the peer, ratio, goal. */
export function peerHeader(report: PeerReport): string[] {
  return [
    "measure",
    report.oursName,
    ...(report.extraNames ?? []),
    report.peerName,
    "ratio",
    "goal",
  ];
}

/** The table's rows for a report (see {@link peerHeader}). */
export function peerRows(report: PeerReport): string[][] {
  return report.lines.map((l) => [
    `${l.measure} (${l.unit})`,
    num(l.ours, l.unit),
    ...(report.extraNames ?? []).map((n) => num(l.extra?.[n] ?? NaN, l.unit)),
    num(l.peer, l.unit),
    `${l.ratio.toFixed(2)}x`,
    l.goal ? `${l.goal}${l.met ? " met" : " MISSED"}` : "",
  ]);
}

/** One bar-chart panel per line: ours, the extras, the peer. */
export function peerPanels(report: PeerReport): BarPanel[] {
  return report.lines.map((l) => ({
    title: l.measure,
    unit: `${l.unit}, ${l.better} is better; ratio ${l.ratio.toFixed(2)}x`,
    bars: [
      { series: report.oursName, value: l.ours },
      ...(report.extraNames ?? []).map((n) => ({ series: n, value: l.extra?.[n] ?? NaN })),
      { series: report.peerName, value: l.peer },
    ],
  }));
}
