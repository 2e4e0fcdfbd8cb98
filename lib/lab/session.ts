/**
 * A whole lab session: `labUp` builds the topology, starts the switches, the controller (which
 * pushes the P4 program and the initial entries) and the workloads, then proves a client reaches
 * the VIP; `labDown` removes all of it. Everything started here is recorded in the lab's state
 * file before it starts, so `down` finds it after a crash too.
 *
 * @module
 */
import { probeCapability } from "../capabilities.ts";
import { MissingCapabilityError, UserError } from "../errors.ts";
import { bmv2Argv } from "../bmv2/switch.ts";
import { ControllerApi } from "../controller/api_client.ts";
import { controllerAddressPath } from "../controller/api_types.ts";
import { CONTROLLER_DENO_FLAGS } from "../controller/process_flags.ts";
import { lbStatePath } from "../controller/state_file.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, inNetns, pidAlive, type Shell, spawnDetached } from "../shell.ts";
import { up, type UpResult } from "../topology/apply.ts";
import { buildHostImage } from "../topology/host_image.ts";
import type { LabObject } from "../topology/objects.ts";
import { readState, writeState } from "../topology/state.ts";
import { switchStarter } from "../topology/switch_start.ts";
import { down, type DownResult } from "../topology/teardown.ts";
import { buildWorkloads } from "../workloads/build.ts";
import { planWorkloadStart, startWorkload, type WorkloadPlacement } from "../workloads/start.ts";
import { loadLab } from "./load.ts";
import { settleLabPodmanCommands } from "./orphan_commands.ts";
import { labRunDir, migrateLockPath, migrationsDir } from "./paths.ts";
import { acquireLock } from "../pid_lock.ts";
import { assertNotForeign, claimLab, releaseLab } from "./registry.ts";
import type { Lab } from "./types.ts";

export interface SessionOptions {
  shell?: Shell;
  progress?: Progress;
  /** Build the topology only: no switches, controller or workloads (machines without BMv2). */
  topologyOnly?: boolean;
  /** Capture pcaps on every switch port. */
  pcap?: boolean;
  /** Take the lab over when another checkout owns its id (see `registry.ts`). */
  force?: boolean;
  /** Registry directory (tests). */
  registryDir?: string;
}

export interface LabUpResult {
  topology: UpResult;
  controller?: { address: string; started: boolean };
  workloads: WorkloadPlacement[];
  totalMs: number;
}

/** The lab's run directory (set by the lab parser). */
export function runDirOf(lab: Lab): string {
  if (!lab.runDir) throw new Error(`Lab ${lab.name} has no run directory`);
  return lab.runDir;
}

/** Files of the controller service in a run directory. */
export function controllerFiles(runDir: string) {
  return {
    pidFile: `${runDir}/controller.pid`,
    logFile: `${runDir}/controller.log`,
    /** Where the controller listens, written once it serves (see lib/controller/api_types.ts). */
    addressFile: controllerAddressPath(runDir),
    /** Load-balancer state the controller persists (backends, slots). */
    stateFile: lbStatePath(runDir),
  };
}

/** Path of the workload placement file. */
export function placementsPath(runDir: string): string {
  return `${runDir}/workloads.json`;
}

export async function readPlacements(runDir: string): Promise<WorkloadPlacement[]> {
  try {
    return JSON.parse(await Deno.readTextFile(placementsPath(runDir))) as WorkloadPlacement[];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

export async function writePlacements(runDir: string, list: WorkloadPlacement[]): Promise<void> {
  const tmp = `${placementsPath(runDir)}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(list, null, 2) + "\n");
  await Deno.rename(tmp, placementsPath(runDir));
}

/** Appends objects to the lab's state file before they are created (see lib/topology/state.ts). */
async function recordObjects(runDir: string, objects: LabObject[]): Promise<void> {
  const state = await readState(runDir);
  if (!state) throw new Error(`Lab state file missing in ${runDir}`);
  for (const obj of objects) {
    if (!state.objects.some((o) => JSON.stringify(o) === JSON.stringify(obj))) {
      state.objects.push(obj);
    }
  }
  await writeState(runDir, state);
}

function placementAlive(p: WorkloadPlacement): boolean {
  return p.kind === "process" ? p.pid !== undefined && pidAlive(p.pid) : true;
}

const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;

/** The URL of the lab's controller when it runs and answers, else undefined. */
async function healthyController(lab: Lab): Promise<string | undefined> {
  try {
    const api = await ControllerApi.forLab(lab, { timeoutMs: 2000 });
    await api.health();
    return api.url;
  } catch {
    return undefined;
  }
}

/** Starts the controller service for the lab unless a healthy one runs; returns its address. */
async function ensureController(
  lab: Lab,
  shell: Shell,
  progress: Progress,
): Promise<{ address: string; started: boolean }> {
  const files = controllerFiles(runDirOf(lab));
  const existing = await healthyController(lab);
  if (existing) return { address: existing, started: false };
  const done = progress.step("controller: push the P4 program and the initial entries");
  await Deno.remove(files.addressFile).catch(() => {});
  await recordObjects(runDirOf(lab), [
    { kind: "process", name: "controller", pidFile: files.pidFile, comm: "deno" },
  ]);
  const pid = await spawnDetached(shell, [
    Deno.execPath(),
    "run",
    "-A",
    ...CONTROLLER_DENO_FLAGS,
    MAIN_TS,
    "controller",
    "serve",
    lab.file,
    "--run-root",
    runDirOf(lab).replace(/\/[^/]+\/?$/, ""),
  ], { logFile: files.logFile, pidFile: files.pidFile });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const address = await healthyController(lab);
    if (address) {
      done(address);
      return { address, started: true };
    }
    if (!pidAlive(pid)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const tail = (await Deno.readTextFile(files.logFile).catch(() => "")).trim().split("\n")
    .slice(-8).join("\n");
  throw new UserError(`The controller of lab ${lab.name} did not come up:\n${tail}`, {
    hint: `see ${files.logFile} and the switch logs in ${runDirOf(lab)}`,
  });
}

/** Checks that a TCP connection from `host` to the VIP completes through the switch. */
export async function probeVip(
  shell: Shell,
  lab: Lab,
  hostName: string,
  timeoutS = 3,
): Promise<boolean> {
  const host = lab.hosts.find((h) => h.name === hostName)!;
  const { vip, servicePort } = lab.loadBalancer;
  const r = await shell.run(
    inNetns(host.netns ?? host.name, [
      "timeout",
      String(timeoutS),
      "bash",
      "-c",
      `exec 3<>/dev/tcp/${vip}/${servicePort}`,
    ]),
    { check: false },
  );
  return r.code === 0;
}

/**
 * Brings a lab up (idempotent: what already runs is verified and kept). Throws
 * {@link MissingCapabilityError} before creating anything when BMv2 is missing, unless
 * `topologyOnly`.
 */
export async function labUp(lab: Lab, options: SessionOptions = {}): Promise<LabUpResult> {
  const shell = options.shell ?? defaultShell;
  const progress = options.progress ?? silentProgress;
  const t0 = performance.now();
  const runDir = runDirOf(lab);
  if (!options.topologyOnly) {
    for (const cap of ["root", "bmv2"] as const) {
      const reason = probeCapability(cap);
      if (reason) {
        throw new MissingCapabilityError(`Cannot bring up lab ${lab.name}: ${reason}`, {
          hint: cap === "bmv2"
            ? "install BMv2 (`sudo P4CF_P4_SOURCE=obs bash lab/provision.sh`), or use " +
              "`--topology-only` to build just the namespaces, links and pods"
            : "run it with sudo",
        });
      }
    }
  }
  await claimLab({ name: lab.name, id: lab.id!, runDir }, {
    force: options.force,
    dir: options.registryDir,
  });
  const paths = await buildWorkloads({ shell });
  const plans = options.topologyOnly
    ? []
    : lab.workloads.map((w) => planWorkloadStart(lab, w, paths, runDir));
  for (const plan of plans) {
    if (plan.image) await buildHostImage(shell, plan.image, progress);
  }

  const topology = await up(lab, {
    shell,
    progress,
    startSwitch: options.topologyOnly
      ? undefined
      : switchStarter((ctx) => bmv2Argv(ctx.switch, { runDir: ctx.runDir, pcap: options.pcap })),
  });
  if (options.topologyOnly) {
    return { topology, workloads: [], totalMs: performance.now() - t0 };
  }

  try {
    const controller = await ensureController(lab, shell, progress);
    const placements = await readPlacements(runDir);
    // Servers first, so clients find them; each starts only if not already running.
    const ordered = [...plans].sort((a, b) =>
      a.workload.role === b.workload.role ? 0 : a.workload.role === "server" ? -1 : 1
    );
    for (const plan of ordered) {
      const current = placements.find((p) => p.name === plan.workload.name);
      if (current && placementAlive(current)) continue;
      const done = progress.step(`workload ${plan.workload.name} on ${plan.host.name}`);
      await recordObjects(runDir, [
        plan.workload.kind === "process"
          ? {
            kind: "process",
            name: plan.workload.name,
            pidFile: plan.pidFile!,
            comm: plan.argv[0].split("/").pop()!.slice(0, 15),
          }
          : { kind: "container", name: plan.argv[plan.argv.indexOf("--name") + 1] },
      ]);
      const placement = await startWorkload(shell, plan);
      const others = placements.filter((p) => p.name !== placement.name);
      placements.splice(0, placements.length, ...others, placement);
      await writePlacements(runDir, placements);
      done(placement.pid ? `pid ${placement.pid}` : placement.container);
    }
    await verifyClients(lab, shell, progress);
    return { topology, controller, workloads: placements, totalMs: performance.now() - t0 };
  } catch (err) {
    progress.warn(`lab ${lab.name} is up but not healthy; \`deno task lab down ${lab.name}\``);
    throw err;
  }
}

/** Proves every client host reaches the VIP through the switch. */
async function verifyClients(lab: Lab, shell: Shell, progress: Progress): Promise<void> {
  const clientHosts = [
    ...new Set(lab.workloads.filter((w) => w.role === "client").map((w) => w.host)),
  ];
  if (clientHosts.length === 0) return;
  const done = progress.step(
    `verify: ${
      clientHosts.join(", ")
    } reach ${lab.loadBalancer.vip}:${lab.loadBalancer.servicePort}`,
  );
  for (const host of clientHosts) {
    let ok = false;
    for (let attempt = 0; attempt < 5 && !ok; attempt++) ok = await probeVip(shell, lab, host);
    if (!ok) {
      throw new UserError(
        `Host ${host} cannot reach the VIP ${lab.loadBalancer.vip}:${lab.loadBalancer.servicePort}`,
        { hint: `check the switch log and pcaps in ${runDirOf(lab)} and \`deno task lab status\`` },
      );
    }
  }
  done();
}

function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}

/**
 * Removes everything the lab created (safe twice) and forgets workload placements. Podman
 * commands a killed migration left running are let finish first (see lib/lab/orphan_commands.ts),
 * and a migration still running refuses it.
 */
export async function labDown(
  lab: Lab | string,
  options: {
    shell?: Shell;
    progress?: Progress;
    keepCheckpoints?: boolean;
    /** Take the lab down even when another checkout owns its id. */
    force?: boolean;
    registryDir?: string;
  } = {},
): Promise<DownResult> {
  const loaded = typeof lab !== "string" ? lab : await loadLab(lab).catch(() => undefined);
  const runDir = loaded ? loaded.runDir : labRunDir(lab as string);
  const name = loaded?.name ?? (lab as string);
  const id = loaded?.id ??
    (runDir ? (await readState(runDir).catch(() => undefined))?.id : undefined);
  const registry = { force: options.force, dir: options.registryDir };
  if (id && runDir) await assertNotForeign({ name, id, runDir }, "down", registry);
  // A live migration would go on issuing Podman commands while the pods go (Podman 4.3 can
  // deadlock a restore into a pod against `pod ls`); a killed one left a lock that is taken over.
  await using _migration = runDir && await exists(runDir)
    ? await acquireLock(
      migrateLockPath(runDir),
      (owner) => `A migration in this lab is still running (pid ${owner}); lab down would race it`,
    )
    : undefined;
  if (runDir) await settleLabPodmanCommands(runDir, id, options);
  const result = await down(lab, options);
  if (id && runDir) await releaseLab({ id, runDir }, registry);
  if (runDir) {
    const files = controllerFiles(runDir);
    for (const f of [placementsPath(runDir), files.addressFile, files.stateFile]) {
      await Deno.remove(f).catch(() => {});
    }
    // Checkpoints hold the servers' whole memory: not left lying around unless asked for.
    if (!options.keepCheckpoints) {
      await Deno.remove(migrationsDir(runDir), { recursive: true }).catch(() => {});
    }
  }
  return result;
}
