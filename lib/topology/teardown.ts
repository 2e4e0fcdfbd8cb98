/**
 * `down`: removes everything a lab created. First the objects its state file records, newest
 * first, tolerating ones that are already gone; then a sweep of anything else carrying the lab's
 * prefix or label (leftovers of a lost state file, containers other modules started in the lab's
 * pods or restored from checkpoints, processes left in the lab's namespaces). Idempotent.
 *
 * @module
 */
import { which } from "../capabilities.ts";
import { UserError } from "../errors.ts";
import { loadLab } from "../lab/load.ts";
import { isLabIfaceName, isLabSwitchCmdline, LAB_LABEL } from "../lab/naming.ts";
import { labRunDir, labsRunRoot } from "../lab/paths.ts";
import type { Lab } from "../lab/types.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell } from "../shell.ts";
import {
  describeObject,
  foreignReason,
  type Inventory,
  type LabObject,
  livePid,
  objectExists,
  takeInventory,
} from "./objects.ts";
import { portGuardRemovalArgv, portGuardTable } from "../net/port_guard.ts";
import { removePodCgroups } from "./pod_cgroups.ts";
import { type LabState, lockLab, readState, removeState, writeState } from "./state.ts";

export interface DownOptions {
  shell?: Shell;
  progress?: Progress;
  /** Parent of the run directories (default `.run/labs/`), when `lab` is a name. */
  runRoot?: string;
  /** Directory of lab definitions, when `lab` is a name without a state file. */
  labDir?: string;
}

export interface DownResult {
  lab: string;
  /** Objects removed (recorded or swept). */
  removed: string[];
  /** Recorded objects that were already gone. */
  alreadyGone: string[];
  /** Objects that could not be removed (each also reported through progress.warn). */
  failed: string[];
  totalMs: number;
}

interface Tally {
  removed: string[];
  alreadyGone: string[];
  failed: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL; returns when the pids are gone (bounded). */
export async function killPids(shell: Shell, pids: number[], graceMs = 1000): Promise<void> {
  if (!pids.length) return;
  const alive = (pid: number) => {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      return state !== "Z" && state !== "X";
    } catch {
      return false;
    }
  };
  await shell.run(["kill", "-TERM", ...pids.map(String)], { check: false });
  // A stopped process (a server restored with --leave-stopped by a migration that was killed)
  // acts on SIGTERM only once continued; without this it would use up the whole grace period.
  await shell.run(["kill", "-CONT", ...pids.map(String)], { check: false });
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(20);
  const left = pids.filter(alive);
  if (!left.length) return;
  await shell.run(["kill", "-KILL", ...left.map(String)], { check: false });
  const hardDeadline = Date.now() + 2000;
  while (left.some(alive) && Date.now() < hardDeadline) await sleep(20);
}

/** Pids of the processes inside a named network namespace. */
async function netnsPids(shell: Shell, netns: string): Promise<number[]> {
  const out = await shell.run(["ip", "netns", "pids", netns], { check: false });
  return out.stdout.split(/\s+/).map((s) => Number.parseInt(s, 10)).filter((n) =>
    n > 0 && n !== Deno.pid
  );
}

async function removeObject(
  shell: Shell,
  obj: LabObject,
  inv: Inventory,
  tally: Tally,
  progress: Progress,
  owner: { id: string; runDir: string },
): Promise<void> {
  const name = describeObject(obj);
  const foreign = foreignReason(obj, owner.id, owner.runDir);
  if (foreign) {
    tally.failed.push(name);
    progress.warn(`left ${name} alone: the state file records it, but ${foreign}`);
    return;
  }
  if (!objectExists(obj, inv)) {
    tally.alreadyGone.push(name);
    return;
  }
  let result;
  switch (obj.kind) {
    case "process": {
      const pid = livePid(obj.pidFile, obj.comm);
      if (pid) await killPids(shell, [pid]);
      await Deno.remove(obj.pidFile).catch(() => {});
      tally.removed.push(name);
      return;
    }
    case "netns":
      // A pod's processes belong to Podman, which removes them with the pod.
      if (!obj.pod) await killPids(shell, await netnsPids(shell, obj.name));
      result = await shell.run(["ip", "netns", "del", obj.name], { check: false });
      break;
    case "link":
      result = await shell.run(["ip", "link", "del", "dev", obj.name], { check: false });
      break;
    case "pod": {
      result = await shell.run(["podman", "pod", "rm", "--force", "--time", "0", obj.name], {
        check: false,
      });
      const id = inv.podIds.get(obj.name);
      if (result.code === 0 && id) removePodCgroups([id]);
      break;
    }
    case "container":
      result = await shell.run(["podman", "rm", "--force", "--time", "0", obj.name], {
        check: false,
      });
      break;
    case "nft-table":
      result = await shell.run(portGuardRemovalArgv(obj.name), { check: false });
      break;
  }
  if (result.code === 0) tally.removed.push(name);
  else if (/cannot find|does not exist|no such|not found/i.test(result.stderr)) {
    tally.alreadyGone.push(name);
  } else {
    tally.failed.push(name);
    progress.warn(`could not remove ${name}: ${result.stderr.trim().split("\n").pop()}`);
  }
}

/**
 * Removes the objects a state records, newest first, then the state file. Used by `down` and by
 * `up` to clean up after itself.
 */
export async function removeRecorded(
  shell: Shell,
  state: LabState,
  runDir: string,
  progress: Progress,
  podman: boolean,
  tally: Tally = { removed: [], alreadyGone: [], failed: [] },
): Promise<Tally> {
  if (state.objects.length) {
    state.phase = "removing";
    await writeState(runDir, state);
    const usesPodman = podman ||
      state.objects.some((o) => o.kind === "pod" || o.kind === "container");
    const inv = await takeInventory(shell, state.lab, usesPodman && which("podman") !== undefined);
    const done = progress.step(
      `remove ${state.objects.length} recorded objects of lab ${state.lab}`,
    );
    for (const obj of [...state.objects].reverse()) {
      await removeObject(shell, obj, inv, tally, progress, { id: state.id, runDir });
    }
    done(`${tally.removed.length} removed, ${tally.alreadyGone.length} already gone`);
  }
  await removeState(runDir);
  return tally;
}

function labSwitchPids(labId: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0").filter((s) =>
        s
      );
      if (isLabSwitchCmdline(args, labId)) pids.push(Number(entry.name));
    } catch {
      // The process exited meanwhile.
    }
  }
  return pids;
}

/** Removes whatever still carries the lab's prefix or label. */
async function sweep(
  shell: Shell,
  labName: string,
  labId: string,
  tally: Tally,
  progress: Progress,
): Promise<void> {
  const podman = which("podman") !== undefined;
  const inv = await takeInventory(shell, labName, podman);
  const switchPids = labSwitchPids(labId);
  if (switchPids.length) {
    await killPids(shell, switchPids);
    tally.removed.push(...switchPids.map((p) => `switch process ${p}`));
  }
  // Pods first: removing a pod removes its containers (infra included), which `podman rm`
  // refuses to remove on their own.
  const remove = async (kind: string, names: string[], argv: string[]) => {
    if (!names.length) return;
    const out = await shell.run([...argv, ...names], { check: false });
    if (out.code !== 0) {
      progress.warn(`could not remove ${kind}s ${names.join(", ")}: ${out.stderr.trim()}`);
    }
    tally.removed.push(...names.map((n) => `${kind} ${n}`));
  };
  if (podman) {
    await remove("pod", [...inv.pods.keys()], ["podman", "pod", "rm", "--force", "--time", "0"]);
    removePodCgroups(inv.podIds.values());
    const left = inv.pods.size ? await takeInventory(shell, labName, true) : inv;
    await remove("container", [...left.containers.keys()], [
      "podman",
      "rm",
      "--force",
      "--time",
      "0",
    ]);
    await remove("network", [...left.networks], ["podman", "network", "rm", "--force"]);
  }
  for (const netns of [...inv.netns].filter((n) => n.startsWith(`${labId}-`))) {
    await killPids(shell, await netnsPids(shell, netns));
    await shell.run(["ip", "netns", "del", netns], { check: false });
    tally.removed.push(`netns ${netns}`);
  }
  const guard = portGuardTable(labId);
  if (inv.nftTables.has(guard)) {
    await shell.run(portGuardRemovalArgv(guard), { check: false });
    tally.removed.push(`nft-table ${guard}`);
  }
  // Links whose peer was in a deleted namespace are gone by now; list again.
  const links = (await takeInventory(shell, labName, false)).links;
  for (const link of [...links].filter((l) => isLabIfaceName(labId, l))) {
    await shell.run(["ip", "link", "del", "dev", link], { check: false });
    tally.removed.push(`link ${link}`);
  }
}

/**
 * Takes a lab down: recorded objects (newest first), then a sweep by prefix `<id>-` and label
 * `p4cf.lab=<name>`. Safe to run twice and after a crashed `up`. Logs and pcaps in the run
 * directory are kept.
 *
 * @param lab the parsed lab, a lab file path, or a lab name (then the state file, or else the lab
 * definition in `lab/`, gives the id)
 * @throws {UserError} when `lab` is a name with neither a state file nor a lab definition.
 */
export async function down(lab: Lab | string, options: DownOptions = {}): Promise<DownResult> {
  const shell = options.shell ?? defaultShell;
  const progress = options.progress ?? silentProgress;
  const t0 = performance.now();
  if (typeof lab === "string" && (lab.includes("/") || /\.ya?ml$/.test(lab))) {
    lab = await loadLab(lab, { labDir: options.labDir, runRoot: options.runRoot });
  }
  const name = typeof lab === "string" ? lab : lab.name;
  const runDir = typeof lab === "string" || !lab.runDir
    ? labRunDir(name, options.runRoot ?? labsRunRoot())
    : lab.runDir;

  const hadRunDir = await Deno.stat(runDir).then(() => true, () => false);
  if (!hadRunDir && typeof lab === "string") {
    // Nothing of this lab ran here: only its definition can name what a sweep should look for.
    // Checked before the lock, which would create the run directory.
    await loadLab(name, { labDir: options.labDir }).catch((err) => {
      throw new UserError(`Lab ${name} has no state file and its definition cannot be loaded`, {
        hint: err instanceof UserError ? err.message : "give the lab's name as in lab/",
      });
    });
  }
  await using _lock = await lockLab(runDir, name);
  const state = await readState(runDir);
  let id = state?.id ?? (typeof lab === "string" ? undefined : lab.id);
  if (!id) {
    try {
      id = (await loadLab(name, { labDir: options.labDir })).id;
    } catch (err) {
      throw new UserError(`Lab ${name} has no state file and its definition cannot be loaded`, {
        hint: err instanceof UserError ? err.message : "give the lab's name as in lab/",
      });
    }
  }
  if (!id) throw new Error(`Lab ${name} has no id`);
  const tally: Tally = { removed: [], alreadyGone: [], failed: [] };
  if (state) await removeRecorded(shell, state, runDir, progress, false, tally);
  const done = progress.step(
    `sweep leftovers of lab ${name} (prefix ${id}-, label ${LAB_LABEL}=${name})`,
  );
  const before = tally.removed.length;
  await sweep(shell, name, id, tally, progress);
  done(tally.removed.length > before ? `${tally.removed.length - before} removed` : "nothing left");
  for await (const entry of Deno.readDir(runDir)) {
    if (entry.name.endsWith(".pid")) await Deno.remove(`${runDir}/${entry.name}`).catch(() => {});
  }
  return { lab: name, ...tally, totalMs: performance.now() - t0 };
}
