/**
 * A whole lab session, whatever runs it: `labUp` checks ownership and capabilities, lets the
 * lab's runtime kind build hosts and switches, starts the controller (which pushes the P4 program
 * and the initial entries), lets the kind start the workloads, then proves every client reaches
 * the VIP; `labDown` removes all of it. Everything started is recorded in the lab's state file
 * before it starts, so `down` finds it after a crash too.
 *
 * @module
 */
import { probeCapability } from "../capabilities.ts";
import { controllerFiles, ensureController } from "../controller/service_process.ts";
import { MissingCapabilityError, UserError } from "../errors.ts";
import { loadLab } from "../lab/load.ts";
import { labRunDir, migrateLockPath, migrationsDir, runDirOf } from "../lab/paths.ts";
import type { Lab, LabRuntime } from "../lab/types.ts";
import { acquireLock } from "../pid_lock.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, inNetnsPath, type Shell } from "../shell.ts";
import type { UpResult } from "../topology/apply.ts";
import type { LabObject } from "../topology/objects.ts";
import { readState, writeState } from "../topology/state.ts";
import type { DownResult } from "../topology/teardown.ts";
import { placementsPath } from "../workloads/placements.ts";
import type { WorkloadPlacement } from "../workloads/start.ts";
import type { KindContext, RuntimeKind } from "./kind.ts";
import { localKind } from "./kinds/local.ts";
import { interruptedMigration, recoverLab } from "./recover.ts";
import { assertNotForeign, claimLab, releaseLab } from "./registry.ts";
import { ensureSupervisor } from "./supervisor.ts";
import { journalPath } from "../migrate/journal.ts";

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
  /** Kind-specific settings (e.g. `kubeconfig` of an existing cluster). */
  settings?: Record<string, string>;
  /** Start the lab's supervisor, which restarts a switch or controller that died (default true). */
  supervise?: boolean;
}

export interface LabUpResult {
  topology: UpResult;
  controller?: { address: string; started: boolean };
  workloads: WorkloadPlacement[];
  totalMs: number;
}

// A kind's modules load only when a lab of that kind is used.
const KINDS = new Map<LabRuntime, () => Promise<RuntimeKind>>([
  ["local", () => Promise.resolve(localKind)],
  ["kubernetes", async () => (await import("./kinds/kubernetes.ts")).kubernetesKind],
  ["machines", async () => (await import("./kinds/machines.ts")).machinesKind],
]);

/** The runtime kind that runs a lab. */
export async function kindOf(lab: Pick<Lab, "name" | "runtime">): Promise<RuntimeKind> {
  const runtime = lab.runtime ?? "local";
  const kind = KINDS.get(runtime);
  if (!kind) {
    throw new UserError(`Lab ${lab.name} needs the ${runtime} runtime, which is not available`, {
      hint: `runtimes: ${[...KINDS.keys()].join(", ")}`,
    });
  }
  return await kind();
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

/** Checks that a TCP connection from `host` to the VIP completes through the switch. */
export async function probeVip(
  shell: Shell,
  lab: Lab,
  hostName: string,
  timeoutS = 3,
): Promise<boolean> {
  const netns = await (await kindOf(lab)).netnsOf(lab, hostName);
  if (!netns) return false;
  const { vip, servicePort } = lab.loadBalancer;
  const r = await shell.run(
    inNetnsPath(netns, [
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
 * {@link MissingCapabilityError} before creating anything when something it needs is missing
 * (BMv2, unless `topologyOnly`), and a UserError when another checkout owns the lab's id.
 */
export async function labUp(lab: Lab, options: SessionOptions = {}): Promise<LabUpResult> {
  const shell = options.shell ?? defaultShell;
  const progress = options.progress ?? silentProgress;
  const t0 = performance.now();
  const runDir = runDirOf(lab);
  const kind = await kindOf(lab);
  const kindOptions = {
    topologyOnly: options.topologyOnly,
    pcap: options.pcap,
    settings: options.settings,
  };
  const needs = options.topologyOnly
    ? ["root" as const]
    : ["root" as const, "bmv2" as const, ...kind.requires(lab, kindOptions)];
  for (const cap of needs) {
    const reason = probeCapability(cap);
    if (reason) {
      throw new MissingCapabilityError(`Cannot bring up lab ${lab.name}: ${reason}`, {
        hint: cap === "bmv2"
          ? "install BMv2 (`P4CF_P4_SOURCE=obs bash lab/provision.sh` as root, or set " +
            "P4CF_BMV2=/path/to/simple_switch_grpc for your own build), or use " +
            "`--topology-only` to build just the namespaces, links and pods"
          : cap === "root"
          ? "run it as root"
          : "run `bash lab/provision.sh` as root",
      });
    }
  }
  await claimLab({ name: lab.name, id: lab.id!, runDir }, {
    force: options.force,
    dir: options.registryDir,
  });
  // A migration killed mid-way is finished or rolled back first (lib/runtime/recover.ts): until
  // then the lab's server is stopped or checkpointed away, and the lab looks broken.
  if (!options.topologyOnly && await interruptedMigration(lab)) {
    const recovered = await recoverLab(lab, { shell, progress });
    progress.info(
      `interrupted migration: ${recovered.outcome}${
        recovered.host ? `, ${recovered.journal?.workload} runs on ${recovered.host}` : ""
      }`,
    );
  }
  const ctx: KindContext = {
    shell,
    progress,
    record: (objects) => recordObjects(runDir, objects),
  };
  const topology = await kind.up(lab, ctx, kindOptions);
  if (options.topologyOnly) return { topology, workloads: [], totalMs: performance.now() - t0 };

  try {
    const controller = await ensureController(lab, shell, progress, ctx.record);
    if (options.supervise !== false) await ensureSupervisor(lab, shell, ctx.record);
    const workloads = await kind.startWorkloads(lab, ctx);
    await verifyClients(lab, shell, progress);
    return { topology, controller, workloads, totalMs: performance.now() - t0 };
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

export interface LabDownOptions {
  shell?: Shell;
  progress?: Progress;
  /** Keep the migrations' checkpoint images (removed by default: they hold servers' memory). */
  keepCheckpoints?: boolean;
  /** Take the lab down even when another checkout owns its id. */
  force?: boolean;
  registryDir?: string;
}

/**
 * Removes everything the lab created (safe twice) and forgets workload placements. A migration
 * still running refuses it; a lab another checkout owns is refused unless forced.
 */
export async function labDown(
  lab: Lab | string,
  options: LabDownOptions = {},
): Promise<DownResult> {
  const loaded = typeof lab !== "string" ? lab : await loadLab(lab).catch(() => undefined);
  const runDir = loaded ? runDirOf(loaded) : labRunDir(lab as string);
  const name = loaded?.name ?? (lab as string);
  const state = await readState(runDir).catch(() => undefined);
  const id = loaded?.id ?? state?.id;
  const registry = { force: options.force, dir: options.registryDir };
  if (id) await assertNotForeign({ name, id, runDir }, "down", registry);
  // A live migration would go on issuing commands while the lab goes; a killed one left a lock
  // that is taken over.
  await using _migration = await exists(runDir)
    ? await acquireLock(
      migrateLockPath(runDir),
      (owner) => `A migration in this lab is still running (pid ${owner}); lab down would race it`,
    )
    : undefined;
  const kind = await kindOf(loaded ?? { name, runtime: state?.runtime });
  const result = await kind.down(loaded ?? name, options);
  if (id) await releaseLab({ id, runDir }, registry);
  const files = controllerFiles(runDir);
  // A migration journal is about a lab that no longer exists.
  for (
    const f of [placementsPath(runDir), files.addressFile, files.stateFile, journalPath(runDir)]
  ) {
    await Deno.remove(f).catch(() => {});
  }
  // Checkpoints hold the servers' whole memory: not left lying around unless asked for.
  if (!options.keepCheckpoints) {
    await Deno.remove(migrationsDir(runDir), { recursive: true }).catch(() => {});
  }
  return result;
}
