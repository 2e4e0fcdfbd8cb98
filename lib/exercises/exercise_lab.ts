/**
 * The lab an exercise check runs on, under the student's own identity (name, id, switch ports:
 * see student.ts): the exercise's lab file is copied, renamed, to `.run/exercises/labs/<name>.yaml`
 * (the controller service reads it, and `lab status`/`exec`/`down` take it while the lab is up),
 * brought up fresh, and brought down again when disposed, unless the student asked to keep it.
 *
 * A lab still up from an earlier check (`--keep`) is never removed silently: the student is told,
 * and an exercise that can reuse it as it is does.
 *
 * @module
 */
import { controllerFiles } from "../controller/service_process.ts";
import { displayPath } from "./catalog.ts";
import { labsRunRoot, repoRoot, runDirOf } from "../lab/paths.ts";
import { labDown, labUp } from "../runtime/session.ts";
import { parseLabFile } from "../lab/parse.ts";
import type { Lab } from "../lab/types.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { defaultShell, pidAlive, type Shell, spawnDetached } from "../shell.ts";
import { readState, writeState } from "../topology/state.ts";
import { buildWorkloads } from "../workloads/build.ts";
import { type LabIdentity, renameLabText } from "./lab_identity.ts";

export interface ExerciseLabOptions {
  /** The student's name, id and ports for this exercise's lab. */
  identity: LabIdentity;
  /** Leave the lab up when disposed. */
  keep?: boolean;
  /** A lab still up from an earlier check may be used as it is. */
  reuse?: boolean;
  shell?: Shell;
  /** Lab up and down, step by step (shown with --verbose). */
  progress?: Progress;
  /** What the student must be told (a lab of theirs brought down or kept). */
  notice?: (message: string) => void;
  /** Repository root (default: this one): `.run/` lives there. */
  root?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where the renamed lab files of a checkout live. */
export function exerciseLabsDir(root: string = repoRoot()): string {
  return `${root}/.run/exercises/labs`;
}

async function portOpen(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** A lab brought up for a check; `await using` brings it down (or keeps it, saying so). */
export class ExerciseLab implements AsyncDisposable {
  readonly lab: Lab;
  /** The renamed lab file the lab runs from. */
  readonly file: string;
  readonly shell: Shell;
  /** The lab was already up and is used as it is. */
  reused = false;
  readonly #options: ExerciseLabOptions;
  #touched = false;

  private constructor(lab: Lab, file: string, options: ExerciseLabOptions) {
    this.lab = lab;
    this.file = file;
    this.#options = options;
    this.shell = options.shell ?? defaultShell;
  }

  /**
   * Loads (and validates) a lab file and renames it to the student's identity. The renamed copy
   * stays while the lab is up.
   *
   * @throws {LabFileError} when the file (or its renamed copy) has problems.
   */
  static async load(file: string, options: ExerciseLabOptions): Promise<ExerciseLab> {
    await parseLabFile(file);
    const root = options.root ?? repoRoot();
    const dir = exerciseLabsDir(root);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const copy = `${dir}/${options.identity.name}.yaml`;
    const text = `# ${displayPath(file, root)}, renamed for ${options.identity.name} ` +
      `by \`deno task lab check\`\n${
        renameLabText(await Deno.readTextFile(file), options.identity)
      }`;
    await Deno.writeTextFile(copy, text);
    const lab = await parseLabFile(copy, { runRoot: labsRunRoot(root) });
    return new ExerciseLab(lab, copy, options);
  }

  get runDir(): string {
    return runDirOf(this.lab);
  }

  get #notice(): (message: string) => void {
    return this.#options.notice ?? (() => {});
  }

  /** Whether the lab is up from an earlier run (its state says so and its switch answers). */
  async isUp(): Promise<boolean> {
    const state = await readState(this.runDir).catch(() => undefined);
    if (!state || state.phase !== "up") return false;
    return await portOpen(this.lab.switches[0].grpcPort);
  }

  /**
   * Brings the lab up fresh: what an interrupted check left is removed first, and a lab still up
   * from an earlier check is brought down, saying so (or reused, when the exercise allows).
   */
  async up(): Promise<void> {
    this.#touched = true;
    const state = await readState(this.runDir).catch(() => undefined);
    if (state) {
      if (this.#options.reuse && await this.isUp()) {
        this.reused = true;
        this.#notice(`your lab ${this.lab.name} is still up from an earlier check: reusing it`);
        return;
      }
      this.#notice(
        `your lab ${this.lab.name} was still up (kept by an earlier check, or brought up by ` +
          "hand): it is brought down and up again, so that the check starts from a known state",
      );
    }
    const progress = this.#options.progress ?? silentProgress;
    await labDown(this.lab, { shell: this.shell, progress });
    // No supervisor: the checks stop the controller on purpose, and watch every process.
    await labUp(this.lab, { shell: this.shell, progress, supervise: false });
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
    if (!this.#touched) {
      // Not brought up by this check; a lab kept earlier still needs its file.
      if (!(await readState(this.runDir).catch(() => undefined))) {
        await Deno.remove(this.file).catch(() => {});
      }
      return;
    }
    const file = displayPath(this.file, this.#options.root);
    if (this.#options.keep) {
      this.#notice(
        `your lab ${this.lab.name} stays up. Look around with\n` +
          `  sudo deno task lab status ${file}\n` +
          `  sudo deno task lab exec ${file} <host> -- bash\n` +
          `and remove it with\n  sudo deno task lab down ${file}`,
      );
      return;
    }
    await labDown(this.lab, { shell: this.shell, progress: this.#options.progress });
    await Deno.remove(this.file).catch(() => {});
  }
}
