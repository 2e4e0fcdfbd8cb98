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
