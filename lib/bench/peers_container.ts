/**
 * Peer bench for container migration: our migration of the host-containers lab's server (pod h2
 * to pod h3 and back, address rewritten, switch moved) against Podman's own checkpoint/restore of
 * the same container, interleaved in one run so both see the same machine and load.
 *
 * The peer is what a Podman user does by hand, on the same container in the pod it runs in (no
 * address change, no switch update):
 *
 * ```
 * podman container checkpoint --tcp-established --export <tar> <ctr>
 * podman rm --force <ctr>                  # the import keeps the name, so the old one must go
 * podman container restore --import <tar> --tcp-established --pod <pod id>
 * ```
 *
 * The container is the lab's, so Podman runs CRIU with the lab's CRIU configuration file as it
 * stands between migrations (nftables lock, fast-freeze hook; see lib/podman/criu_config.ts):
 * the peer gets those gains too. Both outages come from the same client (the lab's
 * counter_client, one request every `intervalMs`), computed the same way
 * (lib/migrate/client_verdict.ts).
 *
 * @module
 */
import { probeCapability } from "../capabilities.ts";
import type { Lab } from "../lab/types.ts";
import { loadLab } from "../lab/load.ts";
import { ensurePrivateDir, migrateLockPath, migrationsDir, runDirOf } from "../lab/paths.ts";
import { clientVerdict } from "../migrate/client_verdict.ts";
import { migrateWorkload } from "../migrate/lab_migration.ts";
import type { PhaseName } from "../migrate/run.ts";
import { type LatencyStats, latencyStats } from "../p4runtime/bench.ts";
import { acquireLock } from "../pid_lock.ts";
import { silentProgress } from "../progress.ts";
import { labDown, labUp } from "../runtime/session.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { readPlacements } from "../workloads/placements.ts";
import { withClientInterval } from "./labs.ts";
import { peerLine, type PeerReport, type PeerSkipped } from "./peers.ts";
import { loadAverageNow } from "./machine_facts.ts";

/** The lab both sides run in, and the hosts ours moves between. */
export const CONTAINER_PEER_LAB = "host-containers";
const HOSTS = ["h2", "h3"] as const;

export interface ContainerPeerOptions {
  /** Called with one line per run. */
  log?: (line: string) => void;
  /** Runs of each side (default 10). */
  runs?: number;
  /** The client's request interval, ms (default 1). */
  intervalMs?: number;
  /** Pause after each run before the next starts, ms (default 700). */
  settleMs?: number;
  shell?: Shell;
}

/** Podman's own figures for one peer run (`--print-stats`), ms. */
export interface PodmanPeerTimes {
  checkpointMs: number;
  removeMs: number;
  restoreMs: number;
  /** Podman's own accounts (its `--print-stats`), when it printed them. */
  podmanCheckpointMs?: number;
  runtimeCheckpointMs?: number;
  criuFrozenMs?: number;
  podmanRestoreMs?: number;
  runtimeRestoreMs?: number;
  criuRestoreMs?: number;
}

export interface PeerRun {
  /** Client-observed outage, ms (NaN when the client saw none to measure). */
  outageMs: number;
  /** Every client connection kept, counters continuous. */
  kept: boolean;
  /** Epoch ms of the run's start and end (for the plot). */
  start: number;
  end: number;
}

/** What the container peer bench measured, run by run (the report's `details`). */
export interface ContainerPeerDetails {
  lab: string;
  runs: number;
  intervalMs: number;
  /** Why the bench stopped before `runs` runs, if it did. */
  failure?: string;
  ours: {
    outage: LatencyStats;
    kept: number;
    phases: Partial<Record<PhaseName, LatencyStats>>;
    runs: (PeerRun & { from: string; to: string; phases: Record<string, number> })[];
  };
  peer: {
    outage: LatencyStats;
    kept: number;
    runs: (PeerRun & PodmanPeerTimes)[];
  };
}

/** The goal of issue #15: our outage at most this times Podman's own checkpoint/restore's. */
export const CONTAINER_PEER_GOAL = 0.6;

/** The reason the peer bench cannot run here, or undefined. */
export function containerPeerMissing(): string | undefined {
  for (const cap of ["root", "bmv2", "netns", "criu", "podman"] as const) {
    const reason = probeCapability(cap);
    if (reason) return reason;
  }
  return undefined;
}

/** The `--print-stats` JSON Podman prints, or undefined. */
function podmanStats(stdout: string): Record<string, unknown> | undefined {
  const start = stdout.indexOf("{");
  if (start < 0) return undefined;
  try {
    return JSON.parse(stdout.slice(start));
  } catch {
    return undefined;
  }
}

/** Microseconds in Podman's stats to ms; undefined when absent. */
function usToMs(v: unknown): number | undefined {
  return typeof v === "number" ? v / 1000 : undefined;
}

/** Podman's checkpoint argv for the peer: its defaults, as a user types it. */
export function peerCheckpointArgv(container: string, archive: string): string[] {
  return [
    "podman",
    "container",
    "checkpoint",
    "--tcp-established",
    "--export",
    archive,
    "--print-stats",
    container,
  ];
}

/** Podman's restore argv for the peer (a pod's container needs `--pod`; 4.3 wants its id). */
export function peerRestoreArgv(archive: string, podId: string): string[] {
  return [
    "podman",
    "container",
    "restore",
    "--tcp-established",
    "--import",
    archive,
    "--pod",
    podId,
    "--print-stats",
  ];
}

/**
 * One peer run: Podman checkpoints the lab's server container, removes it and restores it from
 * the export into the same pod. Holds the lab's migration lock meanwhile.
 */
export async function podmanCheckpointRestore(
  lab: Lab,
  options: { shell?: Shell; archive: string; container: string; pod: string },
): Promise<PodmanPeerTimes> {
  const shell = options.shell ?? defaultShell;
  await using _lock = await acquireLock(
    migrateLockPath(runDirOf(lab)),
    (owner) => `A migration in lab ${lab.name} is in progress (pid ${owner})`,
  );
  const podId = (await shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", options.pod]))
    .stdout.trim();
  await Deno.remove(options.archive).catch(() => {});
  let t = performance.now();
  // A container C/R takes well under a second; a call stuck for this long is reported.
  const bound = { timeoutMs: 30_000 };
  const ckpt = await shell.run(peerCheckpointArgv(options.container, options.archive), bound);
  const checkpointMs = performance.now() - t;
  t = performance.now();
  await shell.run(["podman", "rm", "--force", options.container], bound);
  const removeMs = performance.now() - t;
  t = performance.now();
  const restore = await shell.run(peerRestoreArgv(options.archive, podId), bound);
  const restoreMs = performance.now() - t;
  const c = podmanStats(ckpt.stdout);
  const r = podmanStats(restore.stdout);
  // deno-lint-ignore no-explicit-any
  const cs = (c?.container_statistics as any[] | undefined)?.[0];
  // deno-lint-ignore no-explicit-any
  const rs = (r?.container_statistics as any[] | undefined)?.[0];
  return {
    checkpointMs,
    removeMs,
    restoreMs,
    podmanCheckpointMs: usToMs(c?.podman_checkpoint_duration),
    runtimeCheckpointMs: usToMs(cs?.runtime_checkpoint_duration),
    criuFrozenMs: usToMs(cs?.criu_statistics?.frozen_time),
    podmanRestoreMs: usToMs(r?.podman_restore_duration),
    runtimeRestoreMs: usToMs(rs?.runtime_restore_duration),
    criuRestoreMs: usToMs(rs?.criu_statistics?.restore_time),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Brings the host-containers lab up (its client sending every `intervalMs`), then alternates:
 * our migration of the server to the other pod, Podman's checkpoint/restore of it in place.
 * The lab goes down at the end, whatever happened. Skips (with the reason) when a tool is
 * missing.
 */
export async function benchContainerPeers(
  options: ContainerPeerOptions = {},
): Promise<PeerReport | PeerSkipped> {
  const missing = containerPeerMissing();
  if (missing) return { name: "container", title: CONTAINER_PEER_TITLE, skipped: missing };
  const runs = options.runs ?? 10;
  const intervalMs = options.intervalMs ?? 1;
  const settleMs = options.settleMs ?? 700;
  const shell = options.shell ?? defaultShell;
  const say = options.log ?? (() => {});
  const lab = withClientInterval(await loadLab(CONTAINER_PEER_LAB), intervalMs);
  const runDir = runDirOf(lab);
  const loadBefore = loadAverageNow();
  let failure: string | undefined;
  const ours: ContainerPeerDetails["ours"]["runs"] = [];
  const peer: ContainerPeerDetails["peer"]["runs"] = [];
  await labDown(lab);
  await labUp(lab);
  try {
    await sleep(500);
    for (let i = 0; i < runs && !failure; i++) {
      try {
        const placements = await readPlacements(runDir);
        const server = placements.find((p) => p.name === "server");
        if (!server?.container) throw new Error(`${lab.name}: no server container placed`);
        const to = server.host === HOSTS[0] ? HOSTS[1] : HOSTS[0];
        const report = await migrateWorkload(lab, {
          workload: "server",
          to,
          progress: silentProgress,
          settleMs,
          shell,
        });
        const d = report.downtime;
        ours.push({
          outageMs: d?.spanMs ?? NaN,
          kept: report.outcome === "migrated" && !!d && !d.anyBroken && d.countsContinuous,
          start: report.frozenWindow.start,
          end: report.frozenWindow.end,
          from: report.from,
          to: report.to,
          phases: Object.fromEntries(report.phases.map((p) => [p.phase, p.ms])),
        });
        if (report.outcome !== "migrated") {
          say(`ours #${i + 1}: ${report.outcome}: ${report.error ?? ""}`);
          break;
        }
        const host = lab.hosts.find((h) => h.name === to)!;
        await ensurePrivateDir(migrationsDir(runDir));
        const start = Date.now();
        const times = await podmanCheckpointRestore(lab, {
          shell,
          archive: `${migrationsDir(runDir)}/podman-peer.tar`,
          container: server.container,
          pod: host.pod!,
        });
        const end = Date.now();
        await sleep(settleMs);
        const verdict = await clientVerdict(lab, await readPlacements(runDir), {
          sinceMs: start,
          waitMs: 5000,
        });
        peer.push({
          outageMs: verdict?.spanMs ?? NaN,
          kept: !!verdict && !verdict.anyBroken && verdict.countsContinuous,
          start,
          end,
          ...times,
        });
        say(
          `#${i + 1}: ours ${
            ours.at(-1)!.outageMs.toFixed(0)
          } ms (${report.from} -> ${report.to})` +
            `, podman ${peer.at(-1)!.outageMs.toFixed(0)} ms (checkpoint ${
              times.checkpointMs.toFixed(0)
            }, rm ${times.removeMs.toFixed(0)}, restore ${times.restoreMs.toFixed(0)})`,
        );
      } catch (err) {
        // One run going wrong (a Podman command timing out on a busy machine) ends the bench
        // with what was measured so far, said in the report, and the lab still goes down.
        failure = `run ${i + 1}: ${err instanceof Error ? err.message.split("\n")[0] : err}`;
        say(`stopped at ${failure}`);
      }
    }
  } finally {
    await labDown(lab);
  }
  const loadAfter = loadAverageNow();
  const phases: ContainerPeerDetails["ours"]["phases"] = {};
  for (const name of ["dump", "transfer", "rewrite", "restore", "switch", "cleanup"] as const) {
    phases[name] = latencyStats(ours.map((r) => r.phases[name] ?? 0));
  }
  const details: ContainerPeerDetails = {
    lab: lab.name,
    runs,
    intervalMs,
    failure,
    ours: {
      outage: latencyStats(ours.map((r) => r.outageMs)),
      kept: ours.filter((r) => r.kept).length,
      phases,
      runs: ours,
    },
    peer: {
      outage: latencyStats(peer.map((r) => r.outageMs)),
      kept: peer.filter((r) => r.kept).length,
      runs: peer,
    },
  };
  say(
    `connections kept: ours ${details.ours.kept} of ${ours.length}, ` +
      `podman ${details.peer.kept} of ${peer.length}; client request every ${intervalMs} ms`,
  );
  const o = details.ours.outage;
  const p = details.peer.outage;
  return {
    name: "container",
    title: CONTAINER_PEER_TITLE,
    oursName: "ours (pod to pod, switch moved)",
    peerName: "podman checkpoint/restore (in place)",
    lines: [
      peerLine("outage p50", "ms", "lower", o.p50Ms, p.p50Ms, { max: CONTAINER_PEER_GOAL }),
      peerLine("outage p90", "ms", "lower", o.p90Ms, p.p90Ms),
    ],
    loadAverage: { before: loadBefore, after: loadAfter },
    details,
  };
}

export const CONTAINER_PEER_TITLE =
  "Container migration outage (host-containers) vs Podman's own checkpoint/restore";
