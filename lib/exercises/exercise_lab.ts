/**
 * The lab an exercise check runs on: loaded from the exercise's lab file (renamed when the caller
 * gives a {@link LabIdentity}), brought up fresh (leftovers of an earlier, interrupted check are
 * removed first) and always brought down again when disposed, unless the student asked to keep it.
 *
 * @module
 */
import { controllerFiles } from "../controller/service_process.ts";
import { runDirOf } from "../lab/paths.ts";
import { labDown, labUp, type LabUpResult } from "../runtime/session.ts";
import { parseLabFile } from "../lab/parse.ts";
import type { Lab } from "../lab/types.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, pidAlive, type Shell, spawnDetached } from "../shell.ts";
import { readState, writeState } from "../topology/state.ts";
import { buildWorkloads } from "../workloads/build.ts";
import { type LabIdentity, renameLabText } from "./lab_identity.ts";

export interface ExerciseLabOptions {
  /** Run the lab under another name, id and ports (tests). */
  identity?: LabIdentity;
  /** Leave the lab up when disposed. */
  keep?: boolean;
  shell?: Shell;
  progress?: Progress;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A lab brought up for a check; `await using` brings it down. */
export class ExerciseLab implements AsyncDisposable {
  readonly lab: Lab;
  readonly shell: Shell;
  readonly #options: ExerciseLabOptions;
  readonly #tempDir?: string;
  #touched = false;

  private constructor(lab: Lab, options: ExerciseLabOptions, tempDir?: string) {
    this.lab = lab;
    this.#options = options;
    this.#tempDir = tempDir;
    this.shell = options.shell ?? defaultShell;
  }

  /**
   * Loads (and validates) a lab file, renamed to `options.identity` when given. The renamed copy
   * lives in a temporary directory until disposal, since the controller service reads it.
   *
   * @throws {LabFileError} when the file has problems.
   */
  static async load(file: string, options: ExerciseLabOptions = {}): Promise<ExerciseLab> {
    const lab = await parseLabFile(file);
    if (!options.identity) return new ExerciseLab(lab, options);
    const dir = await Deno.makeTempDir({ prefix: "p4cf-exercise-" });
    try {
      const copy = `${dir}/${options.identity.name}.yaml`;
      await Deno.writeTextFile(
        copy,
        renameLabText(await Deno.readTextFile(file), options.identity),
      );
      return new ExerciseLab(await parseLabFile(copy), options, dir);
    } catch (err) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  get runDir(): string {
    return runDirOf(this.lab);
  }

  /** Removes what an earlier run left, then brings the lab up (switch, controller, workloads). */
  async up(): Promise<LabUpResult> {
    this.#touched = true;
    await labDown(this.lab, { shell: this.shell });
    return await labUp(this.lab, {
      shell: this.shell,
      progress: this.#options.progress ?? silentProgress,
    });
  }

  /**
   * Stops the lab's controller service, so that the check (or the student's code) is the only
   * P4Runtime client of the switch. The switch keeps its pipeline and entries.
   */
  async stopController(): Promise<void> {
    const { pidFile } = controllerFiles(this.runDir);
    const pid = Number.parseInt(await Deno.readTextFile(pidFile).catch(() => ""), 10);
    if (!(pid > 0) || !pidAlive(pid)) return;
    Deno.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50);
    if (pidAlive(pid)) Deno.kill(pid, "SIGKILL");
  }

  /**
   * Starts one more counter server, on a host the lab file does not run a server on (a lab file
   * may only place servers on backends). Recorded in the lab's state before it starts, so
   * `lab down` stops it.
   */
  async startServer(hostName: string, name: string): Promise<number> {
    const host = this.lab.hosts.find((h) => h.name === hostName);
    if (!host) throw new Error(`Lab ${this.lab.name} has no host ${hostName}`);
    const paths = await buildWorkloads({ shell: this.shell });
    const pidFile = `${this.runDir}/workloads/${name}.pid`;
    const logFile = `${this.runDir}/workloads/${name}.log`;
    const state = await readState(this.runDir);
    if (!state) throw new Error(`Lab ${this.lab.name} is not up`);
    state.objects.push({ kind: "process", name, pidFile, comm: "counter_server" });
    await writeState(this.runDir, state);
    return await spawnDetached(
      this.shell,
      [paths.counter_server, String(this.lab.loadBalancer.servicePort)],
      { netns: host.netns ?? host.name, logFile, pidFile },
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#options.keep) return;
    try {
      if (this.#touched) await labDown(this.lab, { shell: this.shell });
    } finally {
      if (this.#tempDir) await Deno.remove(this.#tempDir, { recursive: true }).catch(() => {});
    }
  }
}
