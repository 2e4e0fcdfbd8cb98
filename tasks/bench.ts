/**
 * `deno task bench [p4runtime|controller|lab|migration|predump ...]`: the performance targets,
 * measured on this machine, printed as tables and saved as JSON in report/bench-<time>.json. Each
 * section checks what it needs (root, BMv2, CRIU, Podman) and stops with the reason when
 * something is missing; `predump` is skipped with its reason on kernels without dirty-memory
 * tracking. P4CF_PREDUMP_MB sets the pre-dump server's memory (default 128, as in the README).
 */
import { benchLabUpDown, benchMigrations } from "../lib/bench/labs.ts";
import { benchControllerMigrate, benchSwitchP4Runtime } from "../lib/bench/switch.ts";
import { type Capability, probeCapability } from "../lib/capabilities.ts";
import { benchPreDump } from "../lib/bench/predump.ts";
import { benchLoad, type LoadBenchResult } from "../lib/bench/load.ts";
import { isOursLoad, loadVariantName } from "../lib/bench/load_variants.ts";
import { MissingCapabilityError } from "../lib/errors.ts";
import { type LatencyStats, latencyStats } from "../lib/p4runtime/bench.ts";
import { formatTable } from "../lib/table.ts";
import { type PeerBench, peerHeader, peerPanels, peerRows } from "../lib/bench/peers.ts";
import { benchP4RuntimePeers } from "../lib/bench/peers_p4runtime.ts";
import { benchContainerPeers } from "../lib/bench/peers_container.ts";
import { barChartSvg } from "../lib/report/bars.ts";
import {
  benchMachines,
  MACHINES_HEADER,
  machinesRows,
  machinesSvg,
} from "../lib/bench/machines.ts";
import { describeShaping } from "../lib/machines/apply.ts";
import { BENCH_SECTIONS, benchArgsProblem, parseBenchArgs } from "./commands.ts";
import { reportError } from "./command.ts";
import { loadAverageNow, machineFacts, settle, settleSeconds } from "../lib/bench/machine_facts.ts";
import {
  newestBenchReport,
  readBenchRun,
  writeReadmeResults,
} from "../lib/bench/readme_results.ts";

// --help, or an unknown option or section (with a did-you-mean), before anything runs.
const argsProblem = benchArgsProblem(Deno.args);
if (argsProblem !== undefined) Deno.exit(argsProblem);
const args = parseBenchArgs(Deno.args);

/** README.md's results from these reports (none: the newest); the exit code. */
async function readmeFrom(reports: string[]): Promise<number> {
  try {
    const files = reports.length ? reports : [await newestBenchReport()];
    const runs = [];
    for (const f of files) runs.push(await readBenchRun(f));
    await writeReadmeResults(runs);
    console.log(`Rewrote README.md's results from ${runs.map((r) => r.file).join(", ")}`);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

// `--readme` without sections measures nothing: README.md from reports already saved.
if (args.readme && !args.sections.length) Deno.exit(await readmeFrom(args.reports));

const SECTIONS = BENCH_SECTIONS;
type Section = typeof SECTIONS[number];
const NEEDS: Record<Section, Capability[]> = {
  p4runtime: ["root", "bmv2"],
  controller: ["root", "bmv2", "netns"],
  lab: ["root", "bmv2", "netns", "podman"],
  migration: ["root", "bmv2", "netns", "criu", "podman"],
  predump: ["root", "netns", "criu"],
  load: ["root", "bmv2", "netns", "criu"],
  // Each peer bench checks its own needs and is skipped with the reason.
  peers: [],
  machines: ["root", "bmv2", "netns", "criu"],
};

const wanted = (args.sections.length ? args.sections : SECTIONS) as Section[];
for (const s of wanted) {
  if (!SECTIONS.includes(s)) {
    console.error(`bench: unknown section "${s}"; sections: ${SECTIONS.join(", ")}`);
    Deno.exit(1);
  }
  for (const cap of NEEDS[s]) {
    const reason = probeCapability(cap);
    if (reason) {
      console.error(`bench ${s}: ${reason}`);
      Deno.exit(1);
    }
  }
}

const f = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "-");
const row = (name: string, s: LatencyStats, target = "") => [
  name,
  f(s.p50Ms, 2),
  f(s.p95Ms, 2),
  f(s.maxMs, 2),
  target,
];
const LAT_HEADER = ["measure", "p50 ms", "p95 ms", "max ms", "target"];
// The machine, once per run: README.md's results say where and under what load they were taken.
const machine = await machineFacts();
const results: Record<string, unknown> = { startedAt: new Date().toISOString(), machine };
// Each section starts on a settled machine: on 2 shared cores the previous one's load moved the
// figures, the ratios to the peers above all.
let settleMax = 0;
try {
  settleMax = settleSeconds();
} catch (err) {
  Deno.exit(reportError(err));
}
const settled = (section: string) =>
  settle(settleMax, (line) => console.log(`\n(before ${section}: ${line})`));
const runDir = `${new URL("../.run/bench", import.meta.url).pathname}`;

if (wanted.includes("p4runtime")) {
  await settled("p4runtime");
  console.log("\n== P4Runtime against BMv2 (test program, 64K-entry table)");
  const r = await benchSwitchP4Runtime(runDir);
  results.p4runtime = r;
  console.log(formatTable(["measure", "value", "target"], [
    ["MODIFY round trip p50", `${f(r.modify.p50Ms, 3)} ms`, "<= 0.5 ms"],
    ["MODIFY round trip p99", `${f(r.modify.p99Ms, 3)} ms`, ""],
    [
      "INSERT 10,000 in batches of 1000",
      `${f(r.batchedInsert.entriesPerSecond, 0)} /s`,
      ">= 50000 /s",
    ],
    ["INSERT one per request", `${f(r.singleInsert.entriesPerSecond, 0)} /s`, ""],
    [
      "controller resident memory holding 10,000 entries",
      `${f(r.rssMbHolding10k, 0)} MB (peak ${f(r.controllerMemory.peakRssMb, 0)})`,
      "<= 120 MB",
    ],
  ]));
}

if (wanted.includes("controller")) {
  await settled("controller");
  console.log("\n== Controller: PUT /backends (switch half of a migration), process-migration lab");
  const r = await benchControllerMigrate("process-migration");
  results.controller = r;
  console.log(formatTable(["measure", "p50 ms", "p90 ms", "max ms"], [
    ["HTTP round trip", f(r.http.p50, 2), f(r.http.p90, 2), f(r.http.max, 2)],
    ["switch Write RPC", f(r.switchWrite.p50, 2), f(r.switchWrite.p90, 2), f(r.switchWrite.max, 2)],
  ]));
}

if (wanted.includes("lab")) {
  await settled("lab");
  console.log("\n== lab up / down (images built)");
  const r = await benchLabUpDown("process-migration", 3);
  results.lab = r;
  console.log(formatTable(LAT_HEADER, [
    row("lab up process-migration", latencyStats(r.upMs), "<= 5000"),
    row("lab down process-migration", latencyStats(r.downMs), "<= 3000"),
  ]));
}

if (wanted.includes("migration")) {
  await settled("migration");
  const runs: [string, string, [string, string], string][] = [
    ["process-migration", "server", ["h2", "h3"], "<= 150"],
    ["host-containers", "server", ["h2", "h3"], "<= 600"],
  ];
  // The Kubernetes pod migration beside the Podman container's, same machine, same run.
  const noKubernetes = probeCapability("kubernetes");
  if (noKubernetes) console.log(`\n(kubernetes lab skipped: ${noKubernetes})`);
  else runs.push(["kubernetes", "server", ["h2", "h3"], ""]);
  const all = [];
  for (const [lab, workload, hosts, target] of runs) {
    console.log(`\n== 10 migrations: ${lab}`);
    const r = await benchMigrations(lab, workload, hosts, 10);
    all.push({ ...r, reports: undefined });
    console.log(`${r.kept} of ${r.migrations} migrations kept every client connection`);
    console.log(formatTable(LAT_HEADER, [
      row("client-observed downtime", r.downtime, target),
      row("frozen (dump -> switch updated)", r.frozen),
      ...Object.entries(r.phases).map(([name, s]) =>
        row(`phase ${name}`, s!, name === "rewrite" ? "<= 5" : "")
      ),
    ]));
  }
  results.migration = all;
}

if (wanted.includes("load")) {
  await settled("load");
  // Many connections at a human pace, then few at a request every 1 ms: each with and without
  // the hand-over of the segments the lock refused.
  const loads = [
    { connections: Number(Deno.env.get("P4CF_LOAD_CONNECTIONS") ?? 1000), intervalMs: 300 },
    { connections: 50, intervalMs: 1 },
  ];
  const runs: LoadBenchResult[] = [];
  results.load = runs;
  for (const load of loads) {
    console.log(
      `\n== load: ${load.connections} connections, one request each every ${load.intervalMs} ms, ` +
        "through a process migration there and back, each way of holding them",
    );
    const r = await benchLoad(load);
    runs.push(r);
    console.log(formatTable(
      ["lock", "to", "kept", "frozen ms", "median ms", "p90 ms", "worst ms", "worst/median"],
      r.migrations.map((m) => [
        loadVariantName(m),
        m.to,
        `${m.kept}/${m.connections}`,
        f(m.frozenMs, 0),
        f(m.medianMs, 0),
        f(m.p90Ms, 0),
        f(m.worstMs, 0),
        `${f(m.worstOverMedian, 2)}${isOursLoad(m) ? " (<= 1.5)" : ""}`,
      ]),
    ));
  }
}

if (wanted.includes("predump")) {
  await settled("predump");
  const ballastMb = Number(Deno.env.get("P4CF_PREDUMP_MB") ?? 128);
  console.log(`\n== pre-dump: a server with ${ballastMb} MB of memory, 5 migrations per setting`);
  try {
    const r = await benchPreDump({ ballastMb, onMigration: (l) => console.log(`   ${l}`) });
    results.predump = r;
    console.log(formatTable(["pre-dump rounds", ...LAT_HEADER.slice(1, 4), "pages in final dump"], [
      ...r.settings.flatMap((s) => [
        [
          `${s.preDumpRounds}: frozen window`,
          ...row("", s.frozen).slice(1, 4),
          String(latencyStats(s.pagesWritten).p50Ms),
        ],
        [`${s.preDumpRounds}: CRIU frozen time`, ...row("", s.criuFrozen).slice(1, 4), ""],
        [`${s.preDumpRounds}: client downtime`, ...row("", s.downtime).slice(1, 4), ""],
        ...(s.preDumpPause
          ? [[`${s.preDumpRounds}: pause in pre-dumps`, ...row("", s.preDumpPause).slice(1, 4), ""]]
          : []),
        [`${s.preDumpRounds}: whole migration`, ...row("", s.wall).slice(1, 4), ""],
      ]),
    ]));
    for (const s of r.settings) {
      console.log(
        `${s.preDumpRounds} round(s): ${s.kept} of ${s.migrations} kept every connection`,
      );
    }
  } catch (err) {
    if (!(err instanceof MissingCapabilityError)) throw err;
    console.log(`skipped: ${err.message}`);
    results.predump = { skipped: err.message };
  }
}

const reportDir = new URL("../report", import.meta.url).pathname;
await Deno.mkdir(reportDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, "-");

let peersFailed = false;
if (wanted.includes("peers")) {
  await settled("peers");
  // Ours beside a peer tool, same machine, same run; each bench adds itself to this list.
  const peerBenches: PeerBench[] = [
    { name: "p4runtime", title: "P4Runtime client", run: (o) => benchP4RuntimePeers(o) },
    { name: "container", title: "Container migration", run: (o) => benchContainerPeers(o) },
  ];
  // P4CF_PEERS=p4runtime,container runs only those.
  const only = Deno.env.get("P4CF_PEERS")?.split(",").map((s) => s.trim()).filter(Boolean);
  const reports = [];
  for (const bench of peerBenches) {
    if (only && !only.includes(bench.name)) continue;
    console.log(`\n== peers: ${bench.title}`);
    let r;
    try {
      r = await bench.run({ runDir, log: (line) => console.log(`   ${line}`) });
    } catch (err) {
      // One peer bench failing does not lose the others' results; the run still fails below.
      console.error(`failed: ${err instanceof Error ? err.stack ?? err.message : err}`);
      reports.push({ name: bench.name, title: bench.title, failed: String(err) });
      peersFailed = true;
      continue;
    }
    reports.push(r);
    if ("skipped" in r) {
      console.log(`skipped: ${r.skipped}`);
      continue;
    }
    console.log(formatTable(peerHeader(r), peerRows(r)));
    console.log(
      `load average before ${r.loadAverage.before.join(" ")}, after ${
        r.loadAverage.after.join(" ")
      } (${navigator.hardwareConcurrency} CPUs)`,
    );
    const svg = `${reportDir}/peers-${r.name}-${stamp}.svg`;
    await Deno.writeTextFile(
      svg,
      barChartSvg(peerPanels(r), {
        title: r.title,
        subtitle: `${Deno.hostname()}, ${navigator.hardwareConcurrency} CPUs, load average ` +
          `${r.loadAverage.before.join(" ")} -> ${r.loadAverage.after.join(" ")}`,
      }),
    );
    console.log(`Saved ${svg}`);
  }
  results.peers = reports;
}

if (wanted.includes("machines")) {
  await settled("machines");
  const sizesMb = (Deno.env.get("P4CF_MACHINES_MB") ?? "16,128,512,1024").split(",").map(Number);
  const runs = Number(Deno.env.get("P4CF_MACHINES_RUNS") ?? 2);
  console.log(
    `\n== machines: ${sizesMb.join(", ")} MB, ${runs} migrations per mode, 1 Gbit/s underlay`,
  );
  const r = await benchMachines({ sizesMb, runs, onMigration: (l) => console.log(`   ${l}`) });
  results.machines = r;
  console.log(formatTable(MACHINES_HEADER, machinesRows(r)));
  for (const s of r.skipped) console.log(`${s.mode}: skipped, ${s.reason}`);
  for (const u of r.underlay) console.log(`underlay ${describeShaping(u)}`);
  console.log(
    `load average before ${r.loadAverage.before.map((v) => v.toFixed(2)).join(" ")}, after ${
      r.loadAverage.after.map((v) => v.toFixed(2)).join(" ")
    } (${navigator.hardwareConcurrency} CPUs)`,
  );
  if (r.lazyDowntimeRatio !== undefined) {
    console.log(
      `post-copy downtime, largest over smallest memory: ${r.lazyDowntimeRatio.toFixed(2)}x ` +
        `(target <= 2)`,
    );
  }
  const svg = `${reportDir}/machines-${stamp}.svg`;
  await Deno.writeTextFile(svg, machinesSvg(r));
  console.log(`Saved ${svg}`);
}

machine.loadAverage.after = loadAverageNow();
const file = `${reportDir}/bench-${stamp}.json`;
await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
console.log(`\nSaved ${file}`);
const readmeCode = args.readme ? await readmeFrom([file]) : 0;
if (peersFailed) Deno.exit(2);
if (readmeCode) Deno.exit(readmeCode);
