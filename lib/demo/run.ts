/**
 * The demo: bring up a lab, start its client, migrate the server there and back, for a process
 * lab and a container lab, then write a report directory (JSON + SVG latency plot) and tear the
 * labs down.
 *
 * @module
 */
import { MissingCapabilityError } from "../errors.ts";
import { probeCapability } from "../capabilities.ts";
import { loadLab } from "../lab/load.ts";
import { labDown, labUp } from "../runtime/session.ts";
import { readPlacements } from "../workloads/placements.ts";
import type { Lab } from "../lab/types.ts";
import { migrateWorkload, type MigrationReport } from "../migrate/lab_migration.ts";
import type { Progress } from "../progress.ts";
import { latencyPlotSvg, type LatencySample, type MarkedWindow } from "../report/plot.ts";
import { clientJsonLines, parseWorkloadLog } from "../workloads/client_log.ts";

export interface DemoStep {
  lab: string;
  workload: string;
  /** Hosts to visit in order, starting where the workload starts. */
  route: string[];
}

/** What the demo does by default: a process and a container, each there and back. */
export const DEFAULT_DEMO: DemoStep[] = [
  { lab: "process-migration", workload: "server", route: ["h2", "h3", "h2"] },
  { lab: "host-containers", workload: "server", route: ["h2", "h3", "h2"] },
];

/** The Kubernetes part (`demo --kubernetes`): the server pod to a new pod and back. */
export const KUBERNETES_DEMO: DemoStep = {
  lab: "kubernetes",
  workload: "server",
  route: ["h2", "h3", "h2"],
};

export interface DemoOptions {
  steps?: DemoStep[];
  /** Report directory (created). */
  reportDir: string;
  /** Keep the labs up afterwards. */
  keep?: boolean;
  progress: Progress;
  /** Called with a one-line view of the client (its counter ticking) while the demo runs. */
  onTick?: (line: string) => void;
  /** Quiet time before and after each migration, for the plot (default 1000 ms). */
  pauseMs?: number;
}

export interface DemoResult {
  migrations: MigrationReport[];
  /** Every migration kept every client connection. */
  allKept: boolean;
  reportDir: string;
}

async function clientLogOf(lab: Lab): Promise<string | undefined> {
  const client = lab.workloads.find((w) => w.role === "client");
  const placements = await readPlacements(lab.runDir!);
  return placements.find((p) => p.name === client?.name)?.logFile;
}

async function readSamples(logFile: string): Promise<LatencySample[]> {
  const text = await Deno.readTextFile(logFile).catch(() => "");
  const samples: LatencySample[] = [];
  for (const r of parseWorkloadLog(text, logFile)) {
    if (r.kind === "answer") samples.push({ t: r.t, latencyMs: r.latencyMs, conn: r.conn });
  }
  return samples;
}

/** Shows the client's newest answer while `work` runs. */
async function withTicker<T>(
  logFile: string | undefined,
  onTick: ((line: string) => void) | undefined,
  work: () => Promise<T>,
): Promise<T> {
  if (!logFile || !onTick) return await work();
  const timer = setInterval(async () => {
    const text = await Deno.readTextFile(logFile).catch(() => "");
    const last = clientJsonLines(text).at(-1);
    if (last) onTick(`client: ${last}`);
  }, 250);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** Runs the demo. Throws MissingCapabilityError at once when BMv2 is not installed. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  for (const cap of ["root", "bmv2", "criu", "podman"] as const) {
    const reason = probeCapability(cap);
    if (reason) {
      throw new MissingCapabilityError(`The demo cannot run here: ${reason}`, {
        hint: cap === "bmv2"
          ? "use the Vagrant VM (`vagrant up`) or install BMv2 and p4c with " +
            "`P4CF_P4_SOURCE=obs bash lab/provision.sh` as root, or point P4CF_BMV2 at your own build"
          : "run `bash lab/provision.sh` and the demo as root",
      });
    }
  }
  const { progress } = options;
  const pause = options.pauseMs ?? 1000;
  const steps = options.steps ?? DEFAULT_DEMO;
  const labs = await Promise.all(steps.map((s) => loadLab(s.lab)));
  // Checked before the first lab comes up, not after the others have run.
  const kubernetes = labs.some((l) => l.runtime === "kubernetes")
    ? probeCapability("kubernetes")
    : undefined;
  if (kubernetes) {
    throw new MissingCapabilityError(`The Kubernetes demo cannot run here: ${kubernetes}`, {
      hint: "run the demo without --kubernetes, or where Kubernetes and CRI-O are installed",
    });
  }
  await Deno.mkdir(options.reportDir, { recursive: true });
  const migrations: MigrationReport[] = [];
  for (const [i, step] of steps.entries()) {
    const lab = labs[i];
    const up = progress.step(`lab ${lab.name}: up`);
    await labUp(lab, { progress });
    up();
    const logFile = await clientLogOf(lab);
    const windows: MarkedWindow[] = [];
    try {
      await new Promise((r) => setTimeout(r, pause));
      for (const to of step.route.slice(1)) {
        const report = await withTicker(
          logFile,
          options.onTick,
          () => migrateWorkload(lab, { workload: step.workload, to, progress, settleMs: pause }),
        );
        migrations.push(report);
        const downtime = report.downtime ? `${report.downtime.spanMs.toFixed(0)} ms` : "n/a";
        windows.push({
          start: report.frozenWindow.start,
          end: report.frozenWindow.end,
          label: `${report.from} → ${report.to} (${downtime})`,
        });
        if (report.outcome !== "migrated") break;
      }
      if (logFile) {
        const samples = await readSamples(logFile);
        await Deno.copyFile(logFile, `${options.reportDir}/${lab.name}-client.jsonl`);
        await Deno.writeTextFile(
          `${options.reportDir}/${lab.name}-latency.svg`,
          latencyPlotSvg(samples, windows, {
            title: `${lab.name}: request latency seen by the client, migrations shaded`,
          }),
        );
      }
    } finally {
      if (!options.keep) {
        const down = progress.step(`lab ${lab.name}: down`);
        await labDown(lab, { progress });
        down();
      }
    }
  }
  await Deno.writeTextFile(
    `${options.reportDir}/report.json`,
    JSON.stringify({ migrations }, null, 2) + "\n",
  );
  const allKept = migrations.every((m) => m.outcome === "migrated" && !m.downtime?.anyBroken);
  return { migrations, allKept, reportDir: options.reportDir };
}
