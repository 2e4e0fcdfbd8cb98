/** `demo`: migrate a process and a container there and back, with a report and a plot. */
import { DEFAULT_DEMO, KUBERNETES_DEMO, runDemo } from "../lib/demo/run.ts";
import { consoleProgress } from "../lib/progress.ts";
import { formatTable } from "../lib/table.ts";
import type { Command } from "./command.ts";

const USAGE = `Usage: deno task demo [--kubernetes] [--keep] [--report-dir DIR]

Brings up the process-migration lab, starts its client, migrates the server h2 -> h3 -> h2 with
CRIU, then does the same for a container in the host-containers lab. Shows each step live and
ends with a table of downtime and phase times. Writes report.json, each client's log and an SVG
latency plot per lab with the migrations shaded into the report directory (default
report/<time>/). Exits non-zero if any client connection broke.

Options:
  --kubernetes      Then the kubernetes lab: a cluster of its own, the server pod moved to a new
                    pod with a new address and back (needs Kubernetes and CRI-O, see README)
  --keep            Leave the labs up afterwards (\`deno task lab down <lab>\` removes them)
  --report-dir DIR  Where to write the report`;

export const demo: Command = {
  summary: "Migrate a process and a container there and back; report and plot",
  usage: USAGE,
  options: {
    keep: { type: "boolean" },
    kubernetes: { type: "boolean" },
    "report-dir": { type: "string" },
  },
  async run(values) {
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const reportDir = typeof values["report-dir"] === "string"
      ? values["report-dir"]
      : `report/${stamp}`;
    const enc = new TextEncoder();
    const tty = Deno.stderr.isTerminal();
    const result = await runDemo({
      steps: values.kubernetes === true ? [...DEFAULT_DEMO, KUBERNETES_DEMO] : DEFAULT_DEMO,
      reportDir,
      keep: values.keep === true,
      progress: consoleProgress(),
      onTick: tty
        ? (line) => Deno.stderr.writeSync(enc.encode(`\r\x1b[2K    ${line.slice(0, 110)}`))
        : undefined,
    });
    if (tty) Deno.stderr.writeSync(enc.encode("\r\x1b[2K"));
    console.log();
    const ms = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(0));
    const phase = (r: (typeof result.migrations)[number], name: string) =>
      ms(r.phases.filter((p) => p.phase === name).reduce((a, p) => a + p.ms, 0));
    console.log(formatTable(
      [
        "lab",
        "kind",
        "move",
        "outcome",
        "downtime ms",
        "dump",
        "rewrite",
        "restore",
        "switch",
        "kept",
      ],
      result.migrations.map((r) => [
        r.lab,
        r.kind,
        `${r.from}->${r.to}`,
        r.outcome,
        ms(r.downtime?.spanMs),
        phase(r, "dump"),
        phase(r, "rewrite"),
        phase(r, "restore"),
        phase(r, "switch"),
        r.downtime ? (r.downtime.anyBroken ? "NO" : "yes") : "-",
      ]),
    ));
    console.log(`\nReport: ${reportDir}/report.json, plots: ${reportDir}/*-latency.svg`);
    if (!result.allKept) console.log("Some connections broke or a migration failed (see above).");
    return result.allKept ? 0 : 2;
  },
};
