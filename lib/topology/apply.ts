/**
 * `up`: makes a lab real by executing its plan through the {@link Shell} seam. Every object is
 * recorded in the lab's state file before it is created, so `down` can remove it whatever
 * happens (a failed step, Ctrl-C, kill -9). A failed `up` removes what it created unless told to
 * keep it. A second `up` of a running lab verifies it and does nothing.
 *
 * @module
 */
import { probeCapability } from "../capabilities.ts";
import { CommandError, MissingCapabilityError, UserError } from "../errors.ts";
import type { Lab } from "../lab/types.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell } from "../shell.ts";
import { describeObject, type LabObject, objectExists, takeInventory } from "./objects.ts";
import { type Plan, planLab, type PlanStep, type StepKind } from "./plan.ts";
import { type LabState, lockLab, newState, readAllStates, readState, writeState } from "./state.ts";
import { labLabels, type StartSwitch } from "./switch_start.ts";
import { removeRecorded } from "./teardown.ts";
import { containerPid, findProblems } from "./verify.ts";

export interface UpOptions {
  shell?: Shell;
  progress?: Progress;
  /**
   * Starts each switch once the topology exists. Without it the switch steps are skipped (and
   * reported): the topology alone is built, e.g. when BMv2 is not installed.
   */
  startSwitch?: StartSwitch;
  /** Keep what was created when a step fails, for debugging (default: remove it). */
  keepOnFailure?: boolean;
  /** Skip the root/tool checks (tests with a recording shell). */
  skipPreflight?: boolean;
  /** Test seam: runs before each step; throwing there aborts `up` at that step. */
  beforeStep?: (step: PlanStep, index: number) => void | Promise<void>;
  /** The switches are left out on purpose (`--topology-only`): say so, without a warning. */
  topologyOnly?: boolean;
}

export interface StepTiming {
  kind: StepKind;
  title: string;
  ms: number;
  skipped?: boolean;
}

export interface UpResult {
  lab: string;
  /** True when the lab was already up and verified: nothing was done. */
  alreadyUp: boolean;
  steps: StepTiming[];
  /** Titles of skipped steps (switches without a starter). */
  skipped: string[];
  totalMs: number;
}

/** Hash of what the plan creates and runs: equal plans give equal fingerprints. */
export async function planFingerprint(plan: Plan): Promise<string> {
  const essence = plan.steps.map((
    s,
  ) => [s.kind, s.run, s.creates, s.kind === "start-switch" ? s.switch : 0]);
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(JSON.stringify(essence)),
  );
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("").slice(
    0,
    16,
  );
}

function needsPodman(lab: Lab): boolean {
  return lab.hosts.some((h) => h.kind === "pod") ||
    lab.switches.some((s) => s.kind === "bmv2-container");
}

function preflight(lab: Lab): void {
  const caps = needsPodman(lab) ? (["netns", "podman"] as const) : (["netns"] as const);
  for (const cap of caps) {
    const reason = probeCapability(cap);
    if (reason) {
      throw new MissingCapabilityError(`Cannot bring up lab ${lab.name}: ${reason}`, {
        hint: "run as root on a provisioned machine (`bash lab/provision.sh` as root)",
      });
    }
  }
}

async function checkIdConflict(lab: Lab, runDir: string): Promise<void> {
  const runRoot = runDir.replace(/\/[^/]+$/, "");
  for (const [name, state] of await readAllStates(runRoot)) {
    if (name !== lab.name && state.id === lab.id && state.objects.length) {
      throw new UserError(
        `Lab ${lab.name} uses id "${lab.id}", like lab ${name}, which is ${state.phase}`,
        {
          hint: `run \`deno task lab down ${name}\` first, or give ${lab.name} another id`,
        },
      );
    }
  }
}

/** Replaces `{pid:<container>}` arguments by the container's main pid. */
async function resolveArgv(shell: Shell, argv: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of argv) {
    const m = /^\{pid:(.+)\}$/.exec(arg);
    if (!m) {
      out.push(arg);
      continue;
    }
    const pid = await containerPid(shell, m[1]);
    if (!pid) throw new Error(`Container ${m[1]} is not running (needed by: ${argv.join(" ")})`);
    out.push(String(pid));
  }
  return out;
}

interface RunContext {
  lab: Lab;
  plan: Plan;
  shell: Shell;
  progress: Progress;
  startSwitch?: StartSwitch;
}

async function runStep(step: PlanStep, ctx: RunContext): Promise<void> {
  if (step.kind === "start-switch") {
    if (!ctx.startSwitch) throw new Error("no switch starter");
    const pcapDir = `${ctx.plan.runDir}/pcaps`;
    await Deno.mkdir(pcapDir, { recursive: true });
    const created = step.creates[0];
    await ctx.startSwitch({
      lab: ctx.lab,
      switch: step.switch,
      shell: ctx.shell,
      progress: ctx.progress,
      runDir: ctx.plan.runDir,
      logFile: step.logFile,
      pidFile: step.pidFile,
      pcapDir,
      containerName: created?.kind === "container"
        ? created.name
        : `${ctx.lab.id}-${step.switch.name}`,
      labels: labLabels(ctx.lab),
    });
    return;
  }
  for (const argv of step.run) {
    try {
      await ctx.shell.run(await resolveArgv(ctx.shell, argv));
    } catch (err) {
      throw explainPodmanFailure(err);
    }
  }
}

/**
 * Starts one switch of a lab that is up (its interfaces exist), as `up` did: for a supervisor
 * restarting a switch that died. The state file already records it.
 */
export async function restartSwitch(
  lab: Lab,
  switchName: string,
  options: { shell?: Shell; progress?: Progress; startSwitch: StartSwitch },
): Promise<void> {
  const plan = planLab(lab);
  const step = plan.steps.find((s) => s.kind === "start-switch" && s.switch.name === switchName);
  if (!step) throw new Error(`Lab ${lab.name} has no switch ${switchName}`);
  await runStep(step, {
    lab,
    plan,
    shell: options.shell ?? defaultShell,
    progress: options.progress ?? silentProgress,
    startSwitch: options.startSwitch,
  });
}

/** Turns Podman's cryptic rlimit failure (a misconfigured host) into an actionable error. */
function explainPodmanFailure(err: unknown): unknown {
  if (
    err instanceof CommandError && err.argv[0] === "podman" &&
    /error setting rlimit/.test(err.stderr)
  ) {
    return new MissingCapabilityError(
      "Podman cannot start containers on this machine: the default ulimits it applies exceed what it may set",
      {
        hint:
          "in /etc/containers/containers.conf.d/p4containerflow.conf use default_ulimits within " +
          "podman's own limits (nproc <= 32768), e.g. rerun `bash lab/provision.sh` as root",
        cause: err,
      },
    );
  }
  return err;
}

/** Steps that belong to the switches: skipped (and done later) when no switch starter is given. */
function isSwitchStep(step: PlanStep): boolean {
  return step.kind === "start-switch" || step.kind === "guard-switch-ports";
}

/** Runs steps, recording created objects first; returns the timings. */
async function executeSteps(
  steps: { step: PlanStep; index: number }[],
  total: number,
  state: LabState,
  ctx: RunContext,
  options: UpOptions,
): Promise<StepTiming[]> {
  const timings: StepTiming[] = [];
  for (const { step, index } of steps) {
    const label = `[${index + 1}/${total}] ${step.title}`;
    if (isSwitchStep(step) && !ctx.startSwitch) {
      if (options.topologyOnly) ctx.progress.info(`${label}: left out (--topology-only)`);
      else ctx.progress.warn(`${label}: skipped (no switch starter; is BMv2 installed?)`);
      if (!state.skipped.includes(step.title)) state.skipped.push(step.title);
      timings.push({ kind: step.kind, title: step.title, ms: 0, skipped: true });
      continue;
    }
    state.objects.push(...step.creates);
    state.skipped = state.skipped.filter((t) => t !== step.title);
    await writeState(ctx.plan.runDir, state);
    const done = ctx.progress.step(label);
    const start = performance.now();
    await options.beforeStep?.(step, index);
    await runStep(step, ctx);
    const ms = performance.now() - start;
    timings.push({ kind: step.kind, title: step.title, ms });
    done();
  }
  return timings;
}

/**
 * Brings a lab up: topology (namespaces, pods, links, addresses), then the switches through
 * `options.startSwitch`. Idempotent: on a lab that is up with the same definition it verifies
 * and returns `alreadyUp` (starting switches that were skipped before, if a starter is given now).
 * Half-created leftovers of a killed `up` are removed first.
 *
 * @throws {UserError} when the lab is up with another definition, broken, or clashes with
 * existing objects; the step's error when a step fails (after removing what was created).
 */
export async function up(lab: Lab, options: UpOptions = {}): Promise<UpResult> {
  const shell = options.shell ?? defaultShell;
  const progress = options.progress ?? silentProgress;
  const t0 = performance.now();
  if (!options.skipPreflight) preflight(lab);
  const plan = planLab(lab);
  const ctx: RunContext = { lab, plan, shell, progress, startSwitch: options.startSwitch };
  const fingerprint = await planFingerprint(plan);
  const podman = needsPodman(lab);

  await using _lock = await lockLab(plan.runDir, lab.name);
  let state = await readState(plan.runDir);
  if (state?.phase === "up") {
    if (state.fingerprint !== fingerprint) {
      throw new UserError(`Lab ${lab.name} is already up with a different definition`, {
        hint: `run \`deno task lab down ${lab.name}\` first, then up again`,
      });
    }
    const problems = await findProblems(shell, state, await takeInventory(shell, lab.name, podman));
    if (problems.length) {
      throw new UserError(`Lab ${lab.name} is up but broken: ${problems.join("; ")}`, {
        hint: `run \`deno task lab down ${lab.name}\` and up again`,
      });
    }
    const pending = plan.steps
      .map((step, index) => ({ step, index }))
      .filter(({ step }) => isSwitchStep(step) && state!.skipped.includes(step.title));
    const steps = options.startSwitch && pending.length
      ? await executeSteps(pending, plan.steps.length, state, ctx, options)
      : [];
    if (steps.length) await writeState(plan.runDir, state);
    return {
      lab: lab.name,
      alreadyUp: true,
      steps,
      skipped: state.skipped,
      totalMs: performance.now() - t0,
    };
  }
  if (state) {
    progress.warn(
      `lab ${lab.name} was left half-${
        state.phase === "removing" ? "removed" : "created"
      }; removing it first`,
    );
    await removeRecorded(shell, state, plan.runDir, progress, podman);
  }
  await checkIdConflict(lab, plan.runDir);
  const inv = await takeInventory(shell, lab.name, podman);
  const clashes = plan.steps.flatMap((s) => s.creates).filter((o: LabObject) =>
    objectExists(o, inv)
  );
  if (clashes.length) {
    throw new UserError(
      `Cannot bring up lab ${lab.name}: ${clashes.map(describeObject).join(", ")} already exist`,
      {
        hint:
          `they carry the lab's prefix "${lab.id}-": run \`deno task lab down ${lab.name}\` to remove leftovers`,
      },
    );
  }

  state = newState(
    { name: lab.name, id: lab.id!, file: lab.file, runtime: lab.runtime },
    fingerprint,
  );
  await writeState(plan.runDir, state);
  try {
    const steps = await executeSteps(
      plan.steps.map((step, index) => ({ step, index })),
      plan.steps.length,
      state,
      ctx,
      options,
    );
    state.phase = "up";
    await writeState(plan.runDir, state);
    return {
      lab: lab.name,
      alreadyUp: false,
      steps,
      skipped: state.skipped,
      totalMs: performance.now() - t0,
    };
  } catch (err) {
    if (!options.keepOnFailure) {
      progress.warn(`bringing up lab ${lab.name} failed; removing what was created`);
      await removeRecorded(shell, state, plan.runDir, progress, podman).catch((cleanupErr) => {
        progress.warn(`cleanup failed too: ${(cleanupErr as Error).message}`);
      });
    }
    throw err;
  }
}
