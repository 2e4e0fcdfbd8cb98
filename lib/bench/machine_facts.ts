/**
 * The machine a bench run measured, recorded once per run by tasks/bench.ts (its `machine` key):
 * host name, CPUs, kernel, the versions of the tools the benches drive and the load average
 * before and after. Absolute figures swing 2× between machines of the same kind, so README's
 * results (lib/bench/results_table.ts) say where and under what load they were taken.
 *
 * @module
 */
import { findTool, type ToolName, TOOLS, toolVersion, versionNumber } from "../tools.ts";
import type { MachineFacts } from "./results_table.ts";
import { nonNegativeSetting } from "../settings.ts";

/** The tools whose versions a run records, by the label the README shows. */
const RECORDED_TOOLS: readonly [ToolName, string][] = [
  ["bmv2", "BMv2"],
  ["criu", "CRIU"],
  ["podman", "Podman"],
];

/** /proc/loadavg's 1, 5 and 15 minute figures, to two decimals. */
export function loadAverageNow(): number[] {
  return Deno.loadavg().map((v) => Math.round(v * 100) / 100);
}

/** How long a section waits at most for the machine to settle, s (`P4CF_BENCH_SETTLE_S`). */
export function settleSeconds(): number {
  return nonNegativeSetting(
    "P4CF_BENCH_SETTLE_S",
    Deno.env.get("P4CF_BENCH_SETTLE_S"),
    "seconds",
    "set it to the most seconds a section may wait for the machine to settle (0: none)",
  ) ?? 90;
}

/**
 * Waits, up to `maxS` seconds, until the 1-minute load average is at most half the CPUs: a
 * section then starts on a machine its predecessor no longer loads (the \`load\` section leaves a
 * 2-core machine at 2.5, and the ratios to the peers moved with it). Returns the seconds waited
 * and the load average it started at; `log` hears when and why it waits.
 */
export async function settle(
  maxS: number,
  log: (line: string) => void,
  loadNow: () => number = () => Deno.loadavg()[0],
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<{ waitedS: number; load: number }> {
  const target = Math.max(1, navigator.hardwareConcurrency / 2);
  const load = loadNow();
  let waited = 0;
  if (load > target && maxS > 0) {
    log(`waiting up to ${maxS} s for the load average (${load.toFixed(2)}) to fall to ${target}`);
    while (loadNow() > target && waited < maxS) {
      await sleep(5000);
      waited += 5;
    }
  }
  return { waitedS: waited, load };
}

/**
 * This machine now, with the load average before the run; tools not found are left out (a
 * section that needs one says so itself). Each version query is bounded by 5 s.
 */
export async function machineFacts(): Promise<MachineFacts> {
  const loadBefore = loadAverageNow();
  const versions = await Promise.all(RECORDED_TOOLS.map(async ([tool, label]) => {
    const found = findTool(tool);
    if (found.path === undefined) return [];
    const line = await toolVersion(found.path, { args: TOOLS[tool].versionArgs, timeoutMs: 5000 });
    return line === undefined ? [] : [[label, versionNumber(line)] as const];
  }));
  return {
    hostname: Deno.hostname(),
    cpus: navigator.hardwareConcurrency,
    kernel: Deno.osRelease(),
    tools: Object.fromEntries(versions.flat()),
    loadAverage: { before: loadBefore },
  };
}
