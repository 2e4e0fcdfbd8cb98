/**
 * The lab's supervisor: a small process beside the controller that brings back what died. A
 * switch that died is started again on its interfaces, and the controller is restarted after it
 * (a new controller pushes the pipeline and every entry from its saved state); a controller that
 * died is started again the same way. The clients' connections survive a restart that takes
 * less than their timeouts, as TCP keeps retransmitting. While a migration holds the lab the
 * supervisor waits: the migration's own rules decide then.
 *
 * The decision is pure ({@link superviseActions}); {@link superviseLab} applies it every half
 * second until the lab goes.
 *
 * @module
 */
import { bmv2Argv } from "../bmv2/switch.ts";
import { controllerFiles, ensureController } from "../controller/service_process.ts";
import { migrateLockPath, runDirOf } from "../lab/paths.ts";
import type { Lab, Switch } from "../lab/types.ts";
import { lockOwner } from "../pid_lock.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, type Shell, spawnDetached } from "../shell.ts";
import { restartSwitch } from "../topology/apply.ts";
import { livePid } from "../topology/objects.ts";
import { switchPidFile } from "../topology/plan.ts";
import { readState } from "../topology/state.ts";
import { switchStarter } from "../topology/switch_start.ts";
import { killPids } from "../topology/teardown.ts";

/** What the supervisor sees in one look. */
export interface LabHealth {
  /** The lab is up (its state file says so). */
  up: boolean;
  /** A live process holds the migration lock. */
  migrating: boolean;
  /** Switches that are not running, by name. */
  deadSwitches: string[];
  controllerAlive: boolean;
  /**
   * The controller died without shutting down (its address file is still there). One stopped
   * on purpose (SIGTERM: it removes the file) is left stopped, e.g. while an exercise programs
   * the switch itself.
   */
  controllerCrashed: boolean;
}

export type SuperviseAction =
  | { kind: "restart-switch"; switch: string }
  | { kind: "restart-controller" }
  | { kind: "stop" };

/** What to do about what was seen (pure). */
export function superviseActions(h: LabHealth): SuperviseAction[] {
  if (!h.up) return [{ kind: "stop" }];
  if (h.migrating) return [];
  const actions: SuperviseAction[] = h.deadSwitches.map((s) => ({
    kind: "restart-switch" as const,
    switch: s,
  }));
  // After a switch restart the controller must program it: a fresh controller does.
  if ((actions.length && h.controllerAlive) || h.controllerCrashed) {
    actions.push({ kind: "restart-controller" });
  }
  return actions;
}

/** Files of the supervisor in a run directory. */
export function supervisorFiles(runDir: string) {
  return { pidFile: `${runDir}/supervisor.pid`, logFile: `${runDir}/supervisor.log` };
}

async function switchAlive(shell: Shell, lab: Lab, sw: Switch): Promise<boolean> {
  if (sw.kind === "bmv2-container") {
    const r = await shell.run(
      ["podman", "inspect", "--format", "{{.State.Running}}", sw.container ?? ""],
      { check: false },
    );
    return r.code === 0 && r.stdout.trim() === "true";
  }
  return livePid(switchPidFile(runDirOf(lab), sw.name), "simple_switch_grpc") !== undefined;
}

/** Looks at the lab once. */
export async function labHealth(lab: Lab, shell: Shell = defaultShell): Promise<LabHealth> {
  const runDir = runDirOf(lab);
  const state = await readState(runDir).catch(() => undefined);
  const dead: string[] = [];
  const alive = livePid(controllerFiles(runDir).pidFile, "deno") !== undefined;
  for (const sw of lab.switches) if (!(await switchAlive(shell, lab, sw))) dead.push(sw.name);
  return {
    up: state?.phase === "up",
    migrating: await lockOwner(migrateLockPath(runDir)) !== undefined,
    deadSwitches: dead,
    controllerAlive: alive,
    controllerCrashed: !alive &&
      await Deno.stat(controllerFiles(runDir).addressFile).then(() => true, () => false),
  };
}

/** Applies one round of actions; returns false once the supervisor should stop. */
export async function superviseOnce(
  lab: Lab,
  options: { shell?: Shell; progress?: Progress } = {},
): Promise<boolean> {
  const shell = options.shell ?? defaultShell;
  const progress = options.progress ?? silentProgress;
  const runDir = runDirOf(lab);
  for (const action of superviseActions(await labHealth(lab, shell))) {
    switch (action.kind) {
      case "stop":
        return false;
      case "restart-switch": {
        const sw = lab.switches.find((s) => s.name === action.switch)!;
        progress.warn(`switch ${sw.name} is not running: starting it again`);
        if (sw.kind === "bmv2-container") {
          await shell.run(["podman", "rm", "--force", "--time", "0", sw.container ?? ""], {
            check: false,
          });
        }
        await restartSwitch(lab, sw.name, {
          shell,
          progress,
          startSwitch: switchStarter((s) => bmv2Argv(s.switch, { runDir: s.runDir })),
        });
        break;
      }
      case "restart-controller": {
        progress.warn("restarting the controller (it programs the switches from its state)");
        // A controller still running holds sessions to the old switch: it goes first.
        const old = livePid(controllerFiles(runDir).pidFile, "deno");
        if (old) await killPids(shell, [old], 3000);
        // Recorded already by `lab up`: the same pid file.
        await ensureController(lab, shell, progress, () => Promise.resolve());
        break;
      }
    }
  }
  return true;
}

/** Supervises until the lab is down or `signal` aborts. Errors are logged, not fatal. */
export async function superviseLab(
  lab: Lab,
  options: { shell?: Shell; progress?: Progress; signal?: AbortSignal; periodMs?: number } = {},
): Promise<void> {
  const progress = options.progress ?? silentProgress;
  while (!options.signal?.aborted) {
    try {
      if (!(await superviseOnce(lab, options))) return;
    } catch (err) {
      progress.warn(`supervisor: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, options.periodMs ?? 500));
  }
}

const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;

/** Starts the lab's supervisor process unless one runs; `record` sees it before it starts. */
export async function ensureSupervisor(
  lab: Lab,
  shell: Shell,
  record: (objects: { kind: "process"; name: string; pidFile: string; comm: string }[]) => Promise<
    void
  >,
): Promise<number> {
  const runDir = runDirOf(lab);
  const files = supervisorFiles(runDir);
  const running = livePid(files.pidFile, "deno");
  if (running) return running;
  await record([{ kind: "process", name: "supervisor", pidFile: files.pidFile, comm: "deno" }]);
  return await spawnDetached(shell, [
    Deno.execPath(),
    "run",
    "-A",
    MAIN_TS,
    "lab",
    "supervise",
    lab.file,
    "--run-root",
    runDir.replace(/\/[^/]+\/?$/, ""),
  ], { logFile: files.logFile, pidFile: files.pidFile });
}
