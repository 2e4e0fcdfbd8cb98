/**
 * Makes a lab's machines real: runs the steps of `plan.ts` through the {@link Shell} seam, each
 * step's objects recorded in the lab's state file before it runs (so `lab down` removes them after
 * any crash). Shaping tries the delay first and falls back to the rate alone where `tc` has no
 * netem; what was applied is written to `<runDir>/machines/underlay.json` and shown by
 * `lab status`.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { ensurePrivateDir, runDirOf } from "../lab/paths.ts";
import type { Lab } from "../lab/types.ts";
import type { Progress } from "../progress.ts";
import type { Shell } from "../shell.ts";
import type { LabObject } from "../topology/objects.ts";
import { machineDir, type MachineStep, planMachines, planTunnels } from "./plan.ts";

/** What shaping each machine's underlay got. */
export interface UnderlayShaping {
  machine: string;
  underlayIp: string;
  rate?: string;
  delay?: string;
  /** Whether the delay is applied (false where this kernel's `tc` has no netem). */
  delayApplied?: boolean;
  note?: string;
}

export interface MachinesContext {
  shell: Shell;
  progress: Progress;
  record(objects: LabObject[]): Promise<void>;
}

/** The file holding {@link UnderlayShaping} of every machine. */
export function underlayStatusPath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/machines/underlay.json`;
}

/** Reads what `up` applied to the machines' underlay (empty when the lab has none). */
export async function readUnderlayStatus(runDir: string): Promise<UnderlayShaping[]> {
  try {
    return JSON.parse(await Deno.readTextFile(underlayStatusPath(runDir)));
  } catch {
    return [];
  }
}

const NO_NETEM = /qdisc kind is unknown|unknown qdisc|No such file or directory/i;

async function runStep(step: MachineStep, ctx: MachinesContext): Promise<boolean | undefined> {
  await ctx.record(step.creates);
  for (const argv of step.run) await ctx.shell.run(argv);
  if (!step.shape) return undefined;
  const { withDelay, rateOnly } = step.shape;
  if (withDelay === rateOnly || JSON.stringify(withDelay) === JSON.stringify(rateOnly)) {
    for (const argv of rateOnly) await ctx.shell.run(argv);
    return undefined;
  }
  const first = await ctx.shell.run(withDelay[0], { check: false });
  if (first.code === 0) {
    for (const argv of withDelay.slice(1)) await ctx.shell.run(argv);
    return true;
  }
  if (!NO_NETEM.test(first.stderr)) {
    throw new Error(`${withDelay[0].join(" ")} failed: ${first.stderr.trim()}`);
  }
  for (const argv of rateOnly) await ctx.shell.run(argv);
  return false;
}

/** True when every object the machines' plan creates exists (a second `up`). */
async function machinesExist(shell: Shell, lab: Lab): Promise<boolean> {
  const bridge = lab.underlay?.bridge;
  if (!bridge) return true;
  const link = await shell.run(["ip", "link", "show", "dev", bridge], { check: false });
  return link.code === 0;
}

/**
 * Refuses an underlay subnet this machine already routes (another lab's, or a real network):
 * two bridges with one subnet would steal each other's traffic without a word.
 */
export async function checkUnderlayFree(shell: Shell, lab: Lab): Promise<void> {
  const u = lab.underlay;
  if (!u || await machinesExist(shell, lab)) return;
  const subnet = `${u.subnet}/${u.prefix}`;
  // `match`: routes covering the subnet (the default one is no clash); `root`: routes inside it.
  const listings = await Promise.all(
    ["match", "root"].map((how) =>
      shell.run(["ip", "-4", "route", "show", how, subnet], { check: false })
    ),
  );
  const clash = listings.flatMap((r) => r.stdout.split("\n")).map((l) => l.trim())
    .find((l) => l && !l.startsWith("default"));
  if (clash) {
    throw new UserError(
      `Cannot bring up lab ${lab.name}: its underlay ${subnet} overlaps a network this machine ` +
        `already has (${clash})`,
      { hint: `set underlay: to a free subnet in ${lab.file}, e.g. underlay: 172.31.7.0/24` },
    );
  }
}

/** True when a switch port is a tunnel already (a second `up`). */
async function isTunnel(shell: Shell, iface: string): Promise<boolean> {
  const out = await shell.run(["ip", "-d", "link", "show", "dev", iface], { check: false });
  return out.code === 0 && /\bvxlan id\b/.test(out.stdout);
}

/**
 * Creates the underlay, the simulated machines and their directories, then replaces the veths of
 * hosts on simulated machines by tunnels. Run after the topology's hosts exist and before the
 * switches start (they bind the tunnels by name). A second run on a lab that is up does nothing.
 */
export async function machinesUp(lab: Lab, ctx: MachinesContext): Promise<UnderlayShaping[]> {
  const runDir = runDirOf(lab);
  for (const m of lab.machines ?? []) await ensurePrivateDir(machineDir(runDir, m.name));
  if (await machinesExist(ctx.shell, lab)) {
    const status = await readUnderlayStatus(runDir);
    for (const step of planTunnels(lab)) {
      const iface = step.creates[0]?.name;
      if (iface && !await isTunnel(ctx.shell, iface)) await tunnel(step, ctx);
    }
    return status;
  }
  await checkUnderlayFree(ctx.shell, lab);
  const shaping = new Map<string, UnderlayShaping>(
    (lab.machines ?? []).map((m) => [m.name, {
      machine: m.name,
      underlayIp: m.underlayIp,
      ...(m.rate ? { rate: m.rate } : {}),
      ...(m.delay ? { delay: m.delay } : {}),
      ...(m.root ? { note: "the switches' machine (this one)" } : {}),
    }]),
  );
  const steps = planMachines(lab);
  steps.forEach((s, i) => s.title = `[${i + 1}/${steps.length}] ${s.title}`);
  for (const step of steps) {
    const done = ctx.progress.step(step.title);
    const delayApplied = await runStep(step, ctx);
    const entry = step.shape ? shaping.get(step.shape.machine) : undefined;
    if (entry && delayApplied !== undefined && entry.delay) {
      entry.delayApplied = (entry.delayApplied ?? true) && delayApplied;
      if (!delayApplied) entry.note = "delay not applied: this kernel's tc has no netem";
    }
    done(delayApplied === false ? "rate only: no netem here, delay not applied" : undefined);
  }
  const status = [...shaping.values()];
  await Deno.writeTextFile(underlayStatusPath(runDir), JSON.stringify(status, null, 2) + "\n");
  for (const m of status.filter((s) => s.delayApplied === false)) {
    ctx.progress.warn(
      `machine ${m.machine}: delay ${m.delay} not applied (no netem in this kernel)`,
    );
  }
  for (const step of planTunnels(lab)) await tunnel(step, ctx);
  return status;
}

async function tunnel(step: MachineStep, ctx: MachinesContext): Promise<void> {
  const done = ctx.progress.step(step.title);
  await runStep(step, ctx);
  done();
}

/** A one-line summary of a machine's underlay for `lab status` and reports. */
export function describeShaping(s: UnderlayShaping): string {
  const parts = [s.underlayIp];
  if (s.rate) parts.push(`rate ${s.rate}`);
  if (s.delay) parts.push(`delay ${s.delay}${s.delayApplied ? "" : " (not applied: no netem)"}`);
  if (s.note && !s.note.startsWith("delay")) parts.push(s.note);
  return `${s.machine}: ${parts.join(", ")}`;
}
