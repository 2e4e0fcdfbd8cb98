/**
 * `deno task bench machines` without running it: the bench's lab, what counts as a migration's
 * total time, and the plot (log axis, one line per mode and measure).
 */
import assert from "node:assert/strict";
import {
  benchLabText,
  type MachinesBenchResult,
  machinesRows,
  machinesSvg,
  totalMigrationMs,
} from "../../lib/bench/machines.ts";
import { parseLabText } from "../../lib/lab/parse.ts";
import type { MigrationReport } from "../../lib/migrate/lab_migration.ts";
import { lineChartSvg, logTicks } from "../../lib/report/lines.ts";

Deno.test("the bench lab: the shipped one with the server's memory and the underlay set", async () => {
  const base = await Deno.readTextFile(new URL("../../lab/process-machines.yaml", import.meta.url));
  const text = benchLabText(base, 512, "100mbit", "2ms");
  const lab = parseLabText(text, "/tmp/bench-machines.yaml", { runRoot: "/tmp/none" });
  assert.equal(lab.id, "bmach");
  assert.deepEqual(lab.workloads.find((w) => w.name === "server")?.command.slice(-2), [
    "0.0.0.0",
    "512",
  ]);
  assert.deepEqual(lab.machines!.filter((m) => !m.root).map((m) => [m.rateBitS, m.delayMs]), [
    [1e8, 2],
    [1e8, 2],
  ]);
});

Deno.test("total migration time: until the last page arrived, for post-copy", () => {
  const phases = [
    { phase: "dump", startMs: 10, ms: 50, ok: true },
    { phase: "restore", startMs: 100, ms: 40, ok: true },
  ] as MigrationReport["phases"];
  const base = { wallMs: 300, phases } as MigrationReport;
  assert.equal(totalMigrationMs(base), 300);
  const lazy = {
    ...base,
    machines: {
      mode: "lazy",
      from: "m2",
      to: "m3",
      postCopy: { ok: true, allPagesMs: 5000, pagesFaulted: 3, pagesTransferred: 9, pagesTotal: 9 },
    },
  } as MigrationReport;
  assert.equal(totalMigrationMs(lazy), 5100);
});

Deno.test("the table and the plot: medians per mode and size, log-scaled time", () => {
  const point = (mode: "stop-and-copy" | "lazy", memoryMb: number, ms: number) => ({
    mode,
    memoryMb,
    downtimeMs: [ms, ms * 3],
    frozenMs: [ms],
    totalMs: [ms * 10],
    phases: { dump: [ms / 2] },
    kept: 2,
    runs: 2,
  });
  const r: MachinesBenchResult = {
    rate: "1gbit",
    delay: "0.5ms",
    underlay: [{ machine: "m2", underlayIp: "x", delay: "0.5ms", delayApplied: false }],
    points: [point("stop-and-copy", 16, 100), point("lazy", 16, 90), point("lazy", 1024, 120)],
    skipped: [],
    loadAverage: { before: [1, 1, 1], after: [2, 2, 2] },
  };
  assert.deepEqual(machinesRows(r)[0], [
    "stop-and-copy",
    "16",
    "200",
    "100",
    "50",
    "-",
    "1000",
    "",
    "2/2",
  ]);
  const svg = machinesSvg(r);
  assert.match(svg, /0.5ms delay not applied \(no netem here\)/);
  // Lines for post-copy only: stop-and-copy has one point, drawn as a dot.
  assert.equal((svg.match(/<path /g) ?? []).length, 2);
  assert.equal((svg.match(/<circle /g) ?? []).length, 6);
  assert.deepEqual(logTicks(50, 2000), [50, 100, 200, 500, 1000, 2000]);
  assert.match(
    lineChartSvg([{ label: "a<b", values: [1, undefined, 10] }], {
      title: "t",
      xLabel: "x",
      yLabel: "y",
      categories: ["1", "2", "3"],
    }),
    /a&lt;b/,
  );
});
