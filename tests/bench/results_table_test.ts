/** README.md's results block from bench reports: rows per section present, peers, machine, fmt. */
import assert from "node:assert/strict";
import {
  type BenchReport,
  markdownTable,
  RESULT_SECTIONS,
  RESULTS_BEGIN,
  RESULTS_END,
  resultsBlock,
  spliceResults,
  wrapMarkdown,
} from "../../lib/bench/results_table.ts";
import type { LatencyStats } from "../../lib/p4runtime/bench.ts";
import { UserError } from "../../lib/errors.ts";
import { BENCH_SECTIONS } from "../../tasks/commands.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

const stats = (p50Ms: number, p95Ms = p50Ms * 1.2): LatencyStats => ({
  iterations: 10,
  p50Ms,
  p90Ms: p95Ms,
  p95Ms,
  p99Ms: p95Ms,
  meanMs: p50Ms,
  maxMs: p95Ms,
});

const throughput = (entries: number, batchSize: number, perSecond: number) => ({
  entries,
  batchSize,
  seconds: entries / perSecond,
  entriesPerSecond: perSecond,
});

/** A p4runtime section as tasks/bench.ts saves it. */
const P4RUNTIME: BenchReport = {
  startedAt: "2026-12-06T09:53:13.177Z",
  p4runtime: {
    modify: stats(0.1767, 2.694),
    modifyCpuUs: 109,
    batchedInsert: throughput(10_000, 1000, 42_474.28),
    batchedDelete: throughput(10_000, 1000, 92_382),
    singleInsert: throughput(2000, 1, 4240.87),
    rssMbHolding10k: 99.67,
    controllerMemory: {
      entries: 10_000,
      batchSize: 1000,
      insertSeconds: 0.5,
      readSeconds: 0.2,
      rssMb: 99.67,
      peakRssMb: 101.2,
      denoFlags: [],
    },
  },
};

/** Peers and migrations from one run, on a described machine. */
const PEERS_RUN: BenchReport = {
  startedAt: "2026-12-06T10:30:00.000Z",
  machine: {
    hostname: "bench-host",
    cpus: 2,
    kernel: "6.1.0-28-amd64",
    tools: { BMv2: "1.15.5", CRIU: "4.2.1", Podman: "4.3.1" },
    loadAverage: { before: [0.5, 0.75, 1], after: [1.25, 0.8, 1.01] },
  },
  migration: [{
    lab: "process-migration",
    workload: "server",
    migrations: 10,
    kept: 9,
    downtime: stats(117.06, 144.69),
    frozen: stats(107.75),
    phases: {
      dump: stats(50.99),
      rewrite: stats(0.86),
      restore: stats(51.56),
      switch: stats(3.96),
    },
  }],
  peers: [
    {
      name: "p4runtime",
      title: "P4Runtime client against Python grpcio",
      oursName: "ours (h2)",
      peerName: "Python grpcio 1.51.1",
      extraNames: ["ours (grpc-js)"],
      lines: [{
        measure: "MODIFY round trip p50",
        unit: "µs",
        better: "lower",
        ours: 194.53,
        peer: 313.11,
        ratio: 0.6213,
        extra: { "ours (grpc-js)": 584.94 },
        goal: "<= 0.6",
        met: false,
      }, {
        measure: "INSERT, one per request",
        unit: "/s",
        better: "higher",
        ours: 3042.9,
        peer: 1876.8,
        ratio: 1.6213,
        goal: ">= 1.5",
        met: true,
      }],
      loadAverage: { before: [1, 1, 1], after: [2, 1, 1] },
      details: {},
    },
    { name: "container", title: "Container migration", skipped: "Podman is not installed" },
    { name: "other", title: "Other", failed: "Error: boom\n    at somewhere" },
  ],
};

/** The row of the table whose measure starts with `measure`, as its cells. */
function row(block: string, measure: string): string[] {
  const line = block.split("\n").find((l) => l.startsWith(`| ${measure}`));
  assert.ok(line, `no row "${measure}" in:\n${block}`);
  return line.slice(1, -1).split(" | ").map((c) => c.trim());
}

/** The block with wrapped list items joined back into one line each. */
const unwrapped = (block: string) => block.replaceAll(/\n {2}/g, " ");

/** `deno fmt --check` of markdown text with the project's settings: true when it accepts it. */
async function fmtAccepts(text: string): Promise<boolean> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--config", `${ROOT}deno.json`, "--check", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(`# Results\n\n${text}\n`));
  await w.close();
  return (await child.status).code === 0;
}

Deno.test("one section: its rows with targets and whether met, nothing invented", async () => {
  const block = resultsBlock([{ file: "report/bench-a.json", report: P4RUNTIME }]);
  assert.deepEqual(row(block, "P4Runtime MODIFY round trip p50"), [
    "P4Runtime MODIFY round trip p50",
    "0.177 ms",
    "≤ 0.5 ms",
    "yes",
  ]);
  assert.deepEqual(row(block, "P4Runtime INSERT 10,000 in batches of 1000").slice(1), [
    "42,474/s",
    "≥ 50,000/s",
    "**no**",
  ]);
  assert.equal(row(block, "P4Runtime INSERT, one per request")[1], "4,241/s");
  assert.equal(row(block, "controller resident memory")[1], "100 MB (peak 101 MB)");
  // No peer in the run: no peer columns; no other section's rows; the run's file and date.
  assert.match(block, /^\| measure +\| ours +\| target +\| met\? +\|$/m);
  assert.doesNotMatch(block, /migration|connections|lab up|pre-dump|machines/);
  assert.match(
    unwrapped(block),
    /^- p4runtime: `report\/bench-a\.json` \(2026-12-06 09:53 UTC, machine not recorded\)\.$/m,
  );
  assert.ok(await fmtAccepts(block), block);
});

Deno.test("peers: ours, the peer, the ratio and its goal; skips and failures said", async () => {
  const block = resultsBlock([{ file: "report/bench-b.json", report: PEERS_RUN }]);
  assert.match(block, /^\| measure +\| ours +\| peer, same run +\| ours \/ peer +\| target/m);
  assert.deepEqual(row(block, "P4Runtime: MODIFY round trip p50").slice(1), [
    "195 µs (grpc-js 585 µs)",
    "Python grpcio 1.51.1: 313 µs",
    "0.62×",
    "ratio ≤ 0.6",
    "**no**",
  ]);
  assert.deepEqual(row(block, "P4Runtime: INSERT, one per request").slice(1), [
    "3,043/s",
    "Python grpcio 1.51.1: 1,877/s",
    "1.62×",
    "ratio ≥ 1.5",
    "yes",
  ]);
  // A connection lost misses the target even with the p50 met.
  const downtime = row(block, "process migration: client-observed downtime");
  assert.deepEqual(downtime.slice(1), [
    "p50 117 ms, p95 145 ms; 9 of 10 kept",
    "",
    "",
    "p50 ≤ 150 ms, all kept",
    "**no**",
  ]);
  assert.match(
    row(block, "process migration: frozen window")[1],
    /^p50 108 ms \(dump 51, rewrite 0\.86, restore 51\.6, switch 3\.96\);/,
  );
  // A failed run is counted in the phases too: said, and no target is met with it.
  assert.match(row(block, "process migration: frozen window")[1], /; 1 of 10 runs failed$/);
  assert.deepEqual(row(block, "process migration: address rewrite").slice(4), ["≤ 5 ms", "**no**"]);
  assert.match(block, /^- peers container skipped: Podman is not installed$/m);
  assert.match(block, /^- peers other failed: Error: boom$/m);
  // The machine and the run's own load average (not the peers' one).
  assert.match(
    unwrapped(block),
    /\(2026-12-06 10:30 UTC on bench-host: 2 CPUs, Linux 6\.1\.0-28-amd64, BMv2 1\.15\.5, CRIU 4\.2\.1, Podman/,
  );
  assert.match(
    unwrapped(block),
    /; load average 0\.50 0\.75 1\.00 → 1\.25 0\.80 1\.01\)\./,
  );
  assert.doesNotMatch(block, /during peers/);
  assert.ok(await fmtAccepts(block), block);
});

Deno.test("several runs: each section from the last run holding it, each run listed", () => {
  const newer: BenchReport = { ...P4RUNTIME, startedAt: "2026-12-06T11:00:00.000Z" };
  const block = resultsBlock([
    { file: "report/bench-a.json", report: P4RUNTIME },
    { file: "report/bench-b.json", report: PEERS_RUN },
    { file: "report/bench-c.json", report: newer },
  ]);
  assert.match(block, /from 2 runs/);
  assert.doesNotMatch(block, /bench-a\.json/);
  assert.match(unwrapped(block), /^- migration, peers: `report\/bench-b\.json` \(/m);
  assert.match(unwrapped(block), /^- p4runtime: `report\/bench-c\.json` \(2026-12-06 11:00 UTC,/m);
  // The table keeps the bench's section order whatever the order of the runs.
  assert.ok(block.indexOf("| P4Runtime MODIFY") < block.indexOf("| process migration"));
});

Deno.test("a report without any section is refused, saying how to get one", () => {
  assert.throws(
    () => resultsBlock([{ file: "report/bench-x.json", report: { startedAt: "2026-12-06" } }]),
    (err) =>
      err instanceof UserError && /No bench results in report\/bench-x\.json/.test(err.message) &&
      /deno task bench/.test(err.hint ?? ""),
  );
});

Deno.test("sections that were skipped give a note instead of rows", () => {
  const block = resultsBlock([{
    file: "report/bench-d.json",
    report: { ...P4RUNTIME, predump: { skipped: "this kernel lacks soft-dirty tracking" } },
  }]);
  assert.doesNotMatch(block, /^\| pre-dump/m);
  const skipsOnly = resultsBlock([{
    file: "report/bench-f.json",
    report: { startedAt: P4RUNTIME.startedAt, predump: { skipped: "no soft-dirty" } },
  }]);
  assert.doesNotMatch(skipsOnly, /^\|/m);
  assert.match(skipsOnly, /^- pre-dump skipped: no soft-dirty$/m);
  assert.match(block, /^- pre-dump skipped: this kernel lacks soft-dirty tracking$/m);
});

Deno.test("markdown tables: padded as deno fmt pads them, with | escaped", async () => {
  const table = markdownTable(["a", "long header"], [["x|y", "1"], ["µs ≤", ""]]);
  assert.equal(
    table,
    [
      "| a    | long header |",
      "| ---- | ----------- |",
      "| x\\|y | 1           |",
      "| µs ≤ |             |",
    ].join("\n"),
  );
  assert.ok(await fmtAccepts(table));
});

Deno.test("long lines wrap at the width; list items keep their indent; tables stay", async () => {
  const long = Array.from({ length: 30 }, (_, i) => `word${i}`).join(" ");
  const text = `${long}\n\n- ${long} \`code span\` end\n\n| ${"a".repeat(120)} |\n| --- |`;
  const wrapped = wrapMarkdown(text, 40);
  for (const line of wrapped.split("\n").filter((l) => !l.startsWith("|"))) {
    assert.ok([...line].length <= 40, line);
  }
  assert.match(wrapped, /\n- word0 /);
  assert.match(wrapped, /\n {2}word\d+/);
  assert.match(wrapped, new RegExp(`\\| ${"a".repeat(120)} \\|`));
  assert.ok(await fmtAccepts(wrapMarkdown(text, 100)));
});

Deno.test("the block replaces what is between the markers, and only that", () => {
  const readme = `# T\n\nbefore\n\n${RESULTS_BEGIN}\nold table\n${RESULTS_END}\n\nafter\n`;
  const out = spliceResults(readme, "new table\n");
  assert.equal(out, `# T\n\nbefore\n\n${RESULTS_BEGIN}\n\nnew table\n\n${RESULTS_END}\n\nafter\n`);
  // Again: the same text (rewriting is idempotent).
  assert.equal(spliceResults(out, "new table"), out);
  for (
    const bad of [
      "no markers",
      `${RESULTS_BEGIN} only`,
      `${RESULTS_END}\n${RESULTS_BEGIN}`,
      `${RESULTS_BEGIN}\n${RESULTS_END}\n${RESULTS_BEGIN}\n${RESULTS_END}`,
    ]
  ) {
    assert.throws(
      () => spliceResults(bad, "x"),
      (err) => err instanceof UserError && /bench-results:begin/.test(err.hint ?? ""),
    );
  }
});

Deno.test("the newest real report in report/ gives a formatted block", async (t) => {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(`${ROOT}report`)) {
      if (/^bench-.*\.json$/.test(e.name)) names.push(e.name);
    }
  } catch {
    // No report/ yet.
  }
  if (!names.length) {
    console.log("SKIP newest real report: no report/bench-*.json (run `deno task bench`)");
    return;
  }
  const name = names.sort().at(-1)!;
  await t.step(name, async () => {
    const report = JSON.parse(await Deno.readTextFile(`${ROOT}report/${name}`)) as BenchReport;
    const block = resultsBlock([{ file: `report/${name}`, report }]);
    assert.match(block, new RegExp(`\`report/${name.replaceAll(".", "\\.")}\``));
    // Every section the run saved is named, and gives rows or says why it has none.
    const sections = RESULT_SECTIONS.filter((s) => s in report);
    assert.match(unwrapped(block), new RegExp(`^- ${sections.join(", ")}: \``, "m"));
    const rows = block.split("\n").filter((l) => l.startsWith("| ")).length;
    assert.ok(rows >= 3 || /^- .* (skipped|failed): /m.test(block), block);
    assert.ok(await fmtAccepts(block), block);
  });
});

Deno.test("a report without the machine: the load averages its sections recorded", () => {
  const { machine: _, ...older } = PEERS_RUN;
  const block = unwrapped(resultsBlock([{ file: "report/bench-e.json", report: older }]));
  assert.match(
    block,
    /machine not recorded; load average during peers p4runtime 1\.00 1\.00 1\.00 →/,
  );
});

Deno.test("every section the bench runs has its rows, in the bench's order", () => {
  assert.deepEqual(RESULT_SECTIONS, BENCH_SECTIONS);
});
