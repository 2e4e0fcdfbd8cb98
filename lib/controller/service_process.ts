/**
 * The lab's controller as a detached process (`main.ts controller serve`): its files in the run
 * directory, and starting it unless a healthy one already answers. Used by every lab runtime.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { LabObject } from "../topology/objects.ts";
import type { Lab } from "../lab/types.ts";
import { runDirOf } from "../lab/paths.ts";
import { type Progress } from "../progress.ts";
import { pidAlive, type Shell, spawnDetached } from "../shell.ts";
import { ControllerApi } from "./api_client.ts";
import { controllerAddressPath } from "./api_types.ts";
import { CONTROLLER_DENO_FLAGS } from "./process_flags.ts";
import { lbStatePath } from "./state_file.ts";

/** Files of the controller service in a run directory. */
export function controllerFiles(runDir: string) {
  return {
    pidFile: `${runDir}/controller.pid`,
    logFile: `${runDir}/controller.log`,
    /** Where the controller listens (and its token), written once it serves. */
    addressFile: controllerAddressPath(runDir),
    /** Load-balancer state the controller persists (backends, slots). */
    stateFile: lbStatePath(runDir),
  };
}

const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;

/** The URL of the lab's controller when it runs and answers, else undefined. */
export async function healthyController(lab: Lab): Promise<string | undefined> {
  try {
    const api = await ControllerApi.forLab(lab, { timeoutMs: 2000 });
    await api.health();
    return api.url;
  } catch {
    return undefined;
  }
}

/**
 * Starts the controller service for the lab unless a healthy one runs; returns its address.
 * `record` is called with the process before it starts, so `down` finds it after a crash.
 */
export async function ensureController(
  lab: Lab,
  shell: Shell,
  progress: Progress,
  record: (objects: LabObject[]) => Promise<void>,
): Promise<{ address: string; started: boolean }> {
  const runDir = runDirOf(lab);
  const files = controllerFiles(runDir);
  const existing = await healthyController(lab);
  if (existing) return { address: existing, started: false };
  const done = progress.step("controller: push the P4 program and the initial entries");
  await Deno.remove(files.addressFile).catch(() => {});
  await record([{ kind: "process", name: "controller", pidFile: files.pidFile, comm: "deno" }]);
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
    runDir.replace(/\/[^/]+\/?$/, ""),
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
    hint: `see ${files.logFile} and the switch logs in ${runDir}`,
  });
}
