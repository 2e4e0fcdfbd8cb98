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
import { MissingCapabilityError } from "../lib/errors.ts";
import { type LatencyStats, latencyStats } from "../lib/p4runtime/bench.ts";
import { formatTable } from "../lib/table.ts";
import { benchArgsProblem } from "./commands.ts";

// --help, or an unknown option or section (with a did-you-mean), before anything runs.
const argsProblem = benchArgsProblem(Deno.args);
if (argsProblem !== undefined) Deno.exit(argsProblem);

const SECTIONS = ["p4runtime", "controller", "lab", "migration", "predump"] as const;
type Section = typeof SECTIONS[number];
const NEEDS: Record<Section, Capability[]> = {
  p4runtime: ["root", "bmv2"],
  controller: ["root", "bmv2", "netns"],
  lab: ["root", "bmv2", "netns", "podman"],
  migration: ["root", "bmv2", "netns", "criu", "podman"],
  predump: ["root", "netns", "criu"],
};

const wanted = (Deno.args.length ? Deno.args : SECTIONS) as Section[];
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
const results: Record<string, unknown> = { startedAt: new Date().toISOString() };
const runDir = `${new URL("../.run/bench", import.meta.url).pathname}`;

if (wanted.includes("p4runtime")) {
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
  console.log("\n== Controller: PUT /backends (switch half of a migration), process-migration lab");
  const r = await benchControllerMigrate("process-migration");
  results.controller = r;
  console.log(formatTable(["measure", "p50 ms", "p90 ms", "max ms"], [
    ["HTTP round trip", f(r.http.p50, 2), f(r.http.p90, 2), f(r.http.max, 2)],
    ["switch Write RPC", f(r.switchWrite.p50, 2), f(r.switchWrite.p90, 2), f(r.switchWrite.max, 2)],
  ]));
}

if (wanted.includes("lab")) {
  console.log("\n== lab up / down (images built)");
  const r = await benchLabUpDown("process-migration", 3);
  results.lab = r;
  console.log(formatTable(LAT_HEADER, [
    row("lab up process-migration", latencyStats(r.upMs), "<= 5000"),
    row("lab down process-migration", latencyStats(r.downMs), "<= 3000"),
  ]));
}

if (wanted.includes("migration")) {
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

if (wanted.includes("predump")) {
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
const file = `${reportDir}/bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
console.log(`\nSaved ${file}`);
