/**
 * Migrating a lab's server workload to another host: picks the driver for its kind (CRIU process
 * or Podman container), runs the safe sequence of lib/migrate/run.ts with the controller as the
 * switch update, records where the workload runs now, and measures the downtime the lab's
 * client saw from its JSON lines (lib/migrate/client_verdict.ts).
 *
 * Process and container migrations keep a journal (lib/migrate/journal.ts) from the first step
 * until the placements are recorded: if `migrate` dies in between, `deno task lab recover`
 * (lib/runtime/recover.ts) finishes or rolls the migration back from it.
 *
 * In a lab with machines a process moves through the machines' transfer instead
 * (lib/migrate/machine_driver.ts: stop-and-copy, or post-copy with `lazy`), chosen and checked up
 * front by lib/migrate/machine_migration.ts; it keeps no journal yet.
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { criuCanTrackMemory } from "../criu/checkpoint.ts";
import { UserError } from "../errors.ts";
import { acquireLock } from "../pid_lock.ts";
import { ensurePrivateDir, migrateLockPath, migrationsDir } from "../lab/paths.ts";
import { runDirOf } from "../lab/paths.ts";
import { readPlacements, writePlacements } from "../workloads/placements.ts";
import type { Host, Lab } from "../lab/types.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { type RedisSnapshot, redisSnapshot } from "../workloads/redis_probe.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";
import { ContainerDriver } from "./container_driver.ts";
import { ProcessDriver, type ProcessNetworkLock } from "./process_driver.ts";
import { labPodDriver, type PodDriver } from "./pod_driver.ts";
import { openClusterClients, podLogFile } from "../kubernetes/access.ts";
import { readAllocations, readReservations } from "../kubernetes/cni/state.ts";
import { labNamespace } from "../kubernetes/namespace.ts";
import type { Workload } from "../lab/types.ts";
import { type MigrationDriver, type MigrationResult, runMigration } from "./run.ts";
import { type ClientVerdict, clientVerdict } from "./client_verdict.ts";
import { journaledDriver, journaledSwitch, type JournalHost, MigrationJournal } from "./journal.ts";
import { netnsInode } from "./recovery_probes.ts";
import { MachineDriver, type PostCopyResult, type TransferMode } from "./machine_driver.ts";
import { checkTransferMode, machineMigrationDirs } from "./machine_migration.ts";

export interface LabMigrationOptions {
  workload: string;
  /**
   * Target host name. Optional in a Kubernetes lab: the first free slot of the workload's pool.
   */
  to?: string;
  /** `criu pre-dump` rounds before the final dump (processes only). */
  preDumpRounds?: number;
  /** How a process's connections are locked while it moves (see ProcessDriverOptions). */
  networkLock?: ProcessNetworkLock;
  /**
   * Hand the segments the lock refused to the restored process after the switch update
   * (processes only, default true; see ProcessDriverOptions.replaySegments).
   */
  replaySegments?: boolean;
  /**
   * Post-copy (`--lazy`, between machines): restore first, memory pulled on demand and pushed in
   * the background; `migrate` returns once every page has arrived.
   */
  lazy?: boolean;
  /** Post-copy: how long without a page before the source counts as gone (default 10 s). */
  postCopyStallMs?: number;
  shell?: Shell;
  progress?: Progress;
  /** Points the switch at the target (default: the lab's controller over HTTP). */
  switchUpdate?: (from: Host, to: Host) => Promise<string | void>;
  /** How long to keep reading the client's log after the switch update (default 1500 ms). */
  settleMs?: number;
  /**
   * How much longer to wait for connections that are silent when the log is read, before the
   * report calls them broken (default 5000 ms).
   */
  silentWaitMs?: number;
}

export interface MigrationReport extends MigrationResult {
  lab: string;
  workload: string;
  kind: WorkloadPlacement["kind"];
  from: string;
  to: string;
  fromIp: string;
  toIp: string;
  startedAt: string;
  checkpointDir: string;
  /**
   * What the lab's client saw, from its own log (absent when the lab has no counter client).
   * `anyBroken` also counts connections that stopped answering.
   */
  downtime?: ClientVerdict;
  /** Redis workloads: the server's state through the VIP before and after. */
  redis?: { before: RedisSnapshot; after: RedisSnapshot; preserved: boolean };
  /** A migration between machines: how the checkpoint crossed the underlay. */
  machines?: {
    mode: TransferMode;
    from: string;
    to: string;
    /** Post-copy: until the last page arrived. */
    postCopy?: PostCopyResult;
  };
}

function hostOf(lab: Lab, name: string): Host {
  const host = lab.hosts.find((h) => h.name === name);
  if (!host) {
    throw new UserError(`Lab ${lab.name} has no host "${name}"`, {
      hint: `hosts are: ${lab.hosts.map((h) => h.name).join(", ")}`,
    });
  }
  return host;
}

/** A Kubernetes lab's API clients for a migration (closed when disposed). */
/** The first slot of a workload's pool that no pod holds or has reserved. */
async function freeSlot(lab: Lab, workload: Workload): Promise<string> {
  const runDir = runDirOf(lab);
  const taken = new Set([
    ...Object.keys(await readAllocations(runDir)),
    ...Object.values(await readReservations(runDir)),
  ]);
  const free = (workload.hosts ?? [workload.host]).find((h) => !taken.has(h));
  if (!free) {
    throw new UserError(`Every slot of workload ${workload.name} is taken`, {
      hint: `add hosts to workloads.${workload.name}.hosts in the lab file, or scale it down`,
    });
  }
  return free;
}

/**
 * The switch update through the lab's controller. The API is found and its connection opened
 * (a health call) now, so neither happens inside the frozen window.
 */
export async function controllerSwitchUpdate(
  lab: Lab,
): Promise<(from: Host, to: Host) => Promise<string>> {
  const api = await ControllerApi.forLab(lab);
  await api.health();
  return async (from, to) => {
    const change = await api.migrateBackend(from.name, to.name);
    return `${from.name} -> ${to.name}, ${change.updates} update(s)`;
  };
}

/** Migrates a server workload of a running lab. Failures are in the report's `outcome`. */
export async function migrateWorkload(
  lab: Lab,
  options: LabMigrationOptions,
): Promise<MigrationReport> {
  const shell = options.shell ?? defaultShell;
  const progress = options.progress ?? silentProgress;
  const runDir = runDirOf(lab);
  await using _lock = await acquireLock(
    migrateLockPath(runDir),
    (owner) => `A migration in lab ${lab.name} is already in progress (pid ${owner})`,
  );
  const placements = await readPlacements(runDir);
  // A Kubernetes lab's workload may be named by its pod.
  const placement = placements.find((p) =>
    p.name === options.workload || (p.pod !== undefined && p.pod === options.workload)
  );
  const workload = lab.workloads.find((w) => w.name === placement?.name);
  if (!workload || !placement) {
    throw new UserError(`Lab ${lab.name} runs no workload "${options.workload}"`, {
      hint: placements.length
        ? `workloads are: ${placements.map((p) => p.name).join(", ")}`
        : `bring the lab up first: \`deno task lab up ${lab.name}\``,
    });
  }
  if (workload.role !== "server") {
    throw new UserError(`Workload ${workload.name} is a client; only servers migrate`, {
      hint: `migrate one of: ${
        lab.workloads.filter((w) => w.role === "server").map((w) => w.name).join(", ")
      }`,
    });
  }
  const from = hostOf(lab, placement.host);
  const to = hostOf(
    lab,
    options.to ?? (lab.runtime === "kubernetes" ? await freeSlot(lab, workload) : ""),
  );
  if (from.name === to.name) {
    throw new UserError(`Workload ${workload.name} already runs on ${to.name}`, {
      hint: `pick another host: ${
        lab.hosts.filter((h) => h.name !== to.name).map((h) => h.name).join(", ")
      }`,
    });
  }
  if (options.preDumpRounds) await checkPreDump(shell, placement.kind);
  // Between machines, or --lazy: what the mode needs, refused up front with the reason.
  const crossing = await checkTransferMode(shell, lab, from, to, placement.kind, options);
  if (placement.kind === "container" && !to.pod && lab.runtime !== "kubernetes") {
    throw new UserError(
      `Host ${to.name} is not a pod; container ${workload.name} cannot move there`,
    );
  }
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const checkpointDir = `${
    migrationsDir(runDir)
  }/${stamp}-${workload.name}-${from.name}-${to.name}`;
  await ensurePrivateDir(migrationsDir(runDir));
  await ensurePrivateDir(checkpointDir);
  const netnsOf = (h: Host) => h.netns ?? h.name;
  let driver: MigrationDriver;
  let processDriver: ProcessDriver | undefined;
  let podDriver: PodDriver | undefined;
  let machineDriver: MachineDriver | undefined;
  await using k8s = lab.runtime === "kubernetes" ? await openClusterClients(lab) : undefined;
  if (k8s) {
    podDriver = labPodDriver(lab, k8s, {
      shell,
      pod: placement.pod ?? placement.container!,
      workload: workload.name,
      from,
      to,
      checkpointDir,
    });
    driver = podDriver;
  } else if (crossing) {
    const dirs = machineMigrationDirs(runDir, crossing, checkpointDir);
    machineDriver = new MachineDriver({
      shell,
      mode: crossing.mode,
      sourceNetns: netnsOf(from),
      targetNetns: netnsOf(to),
      sourceMachine: crossing.source,
      targetMachine: crossing.target,
      pid: placement.pid!,
      fromIp: from.ip,
      toIp: to.ip,
      sourceDir: dirs.source,
      targetDir: dirs.target,
      resumeAfterSwitch: true,
      stopBeforeDump: true,
      stallMs: options.postCopyStallMs,
      labRunDir: runDir,
    });
    driver = machineDriver;
  } else if (placement.kind === "process") {
    processDriver = new ProcessDriver({
      shell,
      sourceNetns: netnsOf(from),
      targetNetns: netnsOf(to),
      pid: placement.pid!,
      fromIp: from.ip,
      toIp: to.ip,
      checkpointDir,
      resumeAfterSwitch: true,
      stopBeforeDump: true,
      networkLock: options.networkLock,
      replaySegments: options.replaySegments,
    });
    driver = processDriver;
  } else {
    driver = new ContainerDriver({
      shell,
      container: placement.container!,
      sourcePod: from.pod!,
      targetPod: to.pod!,
      sourceNetns: netnsOf(from),
      targetNetns: netnsOf(to),
      fromIp: from.ip,
      toIp: to.ip,
      checkpointDir,
      criuConfig: placement.criuConfig,
      ports: lab.loadBalancer ? [lab.loadBalancer.servicePort] : [],
    });
  }
  const switchUpdate = options.switchUpdate ?? await controllerSwitchUpdate(lab);
  const clientHost = lab.workloads.find((w) => w.role === "client")?.host;
  const isRedis = /redis-server$/.test(workload.command[0]) && clientHost !== undefined;
  const redisBefore = isRedis ? await redisSnapshot(shell, lab, clientHost!) : undefined;
  // A migration between machines killed half-way is cleaned by lab down; the others are
  // journaled for lib/migrate/recovery.ts.
  const journal = crossing ? undefined : await MigrationJournal.create(runDir, {
    id: checkpointDir.slice(checkpointDir.lastIndexOf("/") + 1),
    lab: lab.name,
    workload: workload.name,
    kind: podDriver ? "pod" : placement.kind === "process" ? "process" : "container",
    from: journalHost(from),
    to: journalHost(to),
    checkpointDir,
    source: podDriver
      ? { pod: placement.pod ?? placement.container, newPod: podDriver.newPod }
      : placement.kind === "process"
      ? { pid: placement.pid }
      : { container: placement.container, criuConfig: placement.criuConfig },
    preDumpRounds: options.preDumpRounds ?? 0,
  });
  const update = () => switchUpdate(from, to);
  const result = await runMigration(
    journal
      ? journaledDriver(driver, journal, () => ({ restoredPid: processDriver?.pid }))
      : driver,
    {
      progress,
      preDumpRounds: options.preDumpRounds,
      switchUpdate: journal ? journaledSwitch(update, journal) : update,
    },
  );
  let postCopy: PostCopyResult | undefined;
  if (machineDriver) {
    if (crossing?.mode === "lazy" && result.outcome !== "dump-failed") {
      const done = progress.step(`post-copy: memory from ${crossing.source.name}`);
      postCopy = await machineDriver.finishPostCopy();
      if (postCopy?.ok) {
        done(
          `${postCopy.pagesTransferred} pages in ${postCopy.allPagesMs.toFixed(0)} ms, ` +
            `${postCopy.pagesFaulted} faulted`,
        );
      } else {
        done();
        if (postCopy?.error) progress.warn(postCopy.error);
      }
    }
    await machineDriver.stopHelpers();
  }

  // Record where the workload runs now (it may be back on the source after a rollback).
  const movedTo = result.outcome === "migrated" || result.outcome === "switch-failed" ? to : from;
  placement.host = movedTo.name;
  if (machineDriver) {
    placement.pid = machineDriver.pid;
    if (placement.pidFile) await Deno.writeTextFile(placement.pidFile, `${machineDriver.pid}\n`);
  }
  if (processDriver) {
    placement.pid = processDriver.pid;
    if (placement.pidFile) await Deno.writeTextFile(placement.pidFile, `${processDriver.pid}\n`);
  }
  if (podDriver && movedTo === to && k8s) {
    placement.pod = placement.container = podDriver.newPod;
    placement.logFile =
      await podLogFile(k8s.access, labNamespace(lab), podDriver.newPod, workload.name) ??
        placement.logFile;
  }
  await writePlacements(runDir, placements);
  // The migration has ended, whichever way: nothing is left for a recovery.
  await journal?.remove();

  await new Promise((r) => setTimeout(r, options.settleMs ?? 1500));
  const downtime = await clientVerdict(lab, placements, {
    sinceMs: result.frozenWindow.start,
    waitMs: options.silentWaitMs ?? 5000,
  });
  let redis: MigrationReport["redis"];
  if (redisBefore) {
    const after = await redisSnapshot(shell, lab, clientHost!);
    const preserved = after.uptimeS >= redisBefore.uptimeS &&
      after.clients >= redisBefore.clients && after.counter > redisBefore.counter;
    redis = { before: redisBefore, after, preserved };
  }
  const report: MigrationReport = {
    ...result,
    lab: lab.name,
    workload: workload.name,
    kind: placement.kind,
    from: from.name,
    to: to.name,
    fromIp: from.ip,
    toIp: to.ip,
    startedAt: startedAt.toISOString(),
    checkpointDir,
    downtime,
    redis,
    ...(crossing
      ? {
        machines: {
          mode: crossing.mode,
          from: crossing.source.name,
          to: crossing.target.name,
          ...(postCopy ? { postCopy } : {}),
        },
      }
      : {}),
    ...(postCopy && !postCopy.ok ? { error: postCopy.error } : {}),
  };
  await Deno.mkdir(checkpointDir, { recursive: true });
  await Deno.writeTextFile(`${checkpointDir}/report.json`, JSON.stringify(report, null, 2) + "\n");
  return report;
}

/** One end of a migration as the journal records it. */
function journalHost(h: Host): JournalHost {
  const netns = h.netns ?? h.name;
  return {
    name: h.name,
    ip: h.ip,
    netns,
    netnsInode: netnsInode(`/run/netns/${netns}`) || undefined,
    pod: h.pod,
  };
}

/** `--pre-dump` needs a process workload and the kernel's dirty-memory tracking. */
async function checkPreDump(shell: Shell, kind: WorkloadPlacement["kind"]): Promise<void> {
  if (kind !== "process") {
    throw new UserError("--pre-dump is for process workloads", {
      hint: "migrate the container without --pre-dump",
    });
  }
  if (!await criuCanTrackMemory({ shell })) {
    throw new UserError(
      "--pre-dump needs the kernel's dirty-memory tracking, which this kernel lacks " +
        "(criu check --feature mem_dirty_track fails)",
      { hint: "migrate without --pre-dump, or on a kernel built with CONFIG_MEM_SOFT_DIRTY" },
    );
  }
}
