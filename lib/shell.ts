/**
 * The one seam through which the library runs commands.
 *
 * Library code builds argv arrays (pure, testable) and hands them to a {@link Shell}. The default
 * {@link DaxShell} runs them with dax; tests pass a {@link RecordingShell} to assert the exact
 * arguments without root, or the real shell for integration tests.
 *
 * @module
 */
import $ from "dax";
import { which } from "./capabilities.ts";
import { CommandError } from "./errors.ts";

// dax implements these itself, with fewer flags than the system's; we always want the real ones.
const DAX_BUILTINS = new Set([
  "cat",
  "cd",
  "cp",
  "echo",
  "exit",
  "export",
  "mkdir",
  "mv",
  "printenv",
  "pwd",
  "rm",
  "sleep",
  "test",
  "touch",
  "unset",
  "which",
]);

function resolveProgram(argv: readonly string[]): string[] {
  if (!DAX_BUILTINS.has(argv[0])) return [...argv];
  return [which(argv[0]) ?? argv[0], ...argv.slice(1)];
}

export interface RunOptions {
  /** Text written to the command's stdin. */
  stdin?: string;
  /** Throw {@link CommandError} on a non-zero exit (default true). */
  check?: boolean;
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Shell {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** Runs commands for real, through dax (argv elements are escaped, never re-split). */
export class DaxShell implements Shell {
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    let cmd = $`${resolveProgram(argv)}`.stdout("piped").stderr("piped").noThrow();
    if (options.stdin !== undefined) cmd = cmd.stdinText(options.stdin);
    else cmd = cmd.stdin("null");
    if (options.timeoutMs !== undefined) cmd = cmd.timeout(options.timeoutMs);
    if (options.env) cmd = cmd.env(options.env);
    if (options.cwd) cmd = cmd.cwd(options.cwd);
    const result = await cmd;
    const out = { code: result.code, stdout: result.stdout, stderr: result.stderr };
    if (options.check !== false && out.code !== 0) {
      throw new CommandError(argv, out.code, out.stdout, out.stderr);
    }
    return out;
  }
}

/** A scripted reply for {@link RecordingShell}: matched against the joined argv. */
export interface ScriptedReply {
  match: RegExp;
  result: Partial<RunResult>;
}

/** Test double: records every argv and answers from a script (default: exit 0, no output). */
export class RecordingShell implements Shell {
  readonly calls: string[][] = [];
  constructor(private readonly replies: ScriptedReply[] = []) {}
  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push([...argv]);
    const line = argv.join(" ");
    const reply = this.replies.find((r) => r.match.test(line));
    const out = { code: 0, stdout: "", stderr: "", ...reply?.result };
    if (options.check !== false && out.code !== 0) {
      return Promise.reject(new CommandError(argv, out.code, out.stdout, out.stderr));
    }
    return Promise.resolve(out);
  }
  /** The recorded calls as single strings, convenient for assertions. */
  lines(): string[] {
    return this.calls.map((c) => c.join(" "));
  }
}

/** Path of a named network namespace as `ip netns` creates it. */
export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}

/**
 * Prefixes argv so it runs in a network namespace. Uses `nsenter --net` rather than
 * `ip netns exec`, which also unshares a mount namespace that CRIU cannot dump.
 */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns ? inNetnsPath(netnsPath(netns), argv) : [...argv];
}

/** Prefixes argv so it runs in the network namespace at `path` (e.g. `/proc/<pid>/ns/net`). */
export function inNetnsPath(path: string, argv: readonly string[]): string[] {
  return ["nsenter", `--net=${path}`, "--", ...argv];
}

export interface DetachOptions {
  /** Network namespace to start in (none: the host's). */
  netns?: string;
  /** File receiving stdout and stderr. */
  logFile: string;
  /** File the new process's pid is written to. */
  pidFile: string;
  /** File the process's exit status is written to when it ends (none: not recorded). */
  exitFile?: string;
  /** Extra environment variables for the process (e.g. an LD_PRELOAD shim). */
  env?: Record<string, string>;
}

// Runs in a fresh session (setsid --fork) as the workload's waiting parent. It closes every
// descriptor above 2 it inherited and points its own stdio away from our pipes, so neither it nor
// the workload holds anything of ours. The workload calls setsid itself: in a non-interactive
// bash a background job is not a process-group leader, so setsid(1) does not fork and $! is the
// workload's pid, and the workload leads its own session (CRIU then needs no --shell-job). The
// bash stays to reap it the moment it dies: left to PID 1, which reaps only every few seconds
// here, a dumped workload lingers as a zombie and blocks the restore that needs its pid.
const WAITER_SCRIPT =
  'for f in /proc/$$/fd/*; do f=${f##*/}; [ "$f" -gt 2 ] && eval "exec $f>&-"; done; ' +
  'exec </dev/null >>"$LOGFILE" 2>&1; ' +
  'setsid "$@" & echo $! > "$0"; wait $!; s=$?; ' +
  '[ -n "$EXITFILE" ] && echo $s > "$EXITFILE"; exit $s';

/**
 * Argv that starts a long-lived process detached from us: its own session, stdin from /dev/null,
 * output to a log file, no other inherited descriptors (CRIU refuses stray ones), and a small
 * waiting parent that reaps it as soon as it exits (so its pid is free again at once).
 */
export function detachedArgv(argv: readonly string[], options: DetachOptions): string[] {
  return [
    "env",
    `LOGFILE=${options.logFile}`,
    `EXITFILE=${options.exitFile ?? ""}`,
    ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ...inNetns(options.netns, [
      "setsid",
      "--fork",
      "bash",
      "-c",
      WAITER_SCRIPT,
      options.pidFile,
      ...argv,
    ]),
  ];
}

/**
 * Starts argv detached (see {@link detachedArgv}) and returns its pid once it runs the program
 * (or has already exited).
 */
export async function spawnDetached(
  shell: Shell,
  argv: readonly string[],
  options: DetachOptions,
): Promise<number> {
  await Deno.remove(options.pidFile).catch(() => {});
  if (options.exitFile) await Deno.remove(options.exitFile).catch(() => {});
  await shell.run(detachedArgv(argv, options));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(options.pidFile).catch(() => "");
    // The file exists (empty) between the shell's open and its write.
    if (text.endsWith("\n")) {
      const pid = Number.parseInt(text, 10);
      if (pid > 0) {
        await waitForExec(pid, deadline);
        return pid;
      }
    }
    await sleep(2);
  }
  throw new Error(`Process did not start: ${argv.join(" ")} (see ${options.logFile})`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let setsidExe: string | undefined;

/**
 * The waiting parent writes the pid right after forking, before setsid(1) has made the session
 * and exec'd the program: wait for that, so callers inspecting /proc see the program itself.
 */
async function waitForExec(pid: number, deadline: number): Promise<void> {
  setsidExe ??= Deno.realPathSync(which("setsid") ?? "/usr/bin/setsid");
  while (Date.now() < deadline) {
    const stat = processStat(pid);
    if (!stat || stat.state === "Z") return;
    if (stat.sid === pid) {
      const exe = await Deno.readLink(`/proc/${pid}/exe`).catch(() => "");
      if (exe !== setsidExe) return;
    }
    await sleep(1);
  }
}

/** The parts of /proc/<pid>/stat we use; undefined when no such process exists. */
export interface ProcessStat {
  /** One-letter state ("R", "S", "Z", ...). */
  state: string;
  ppid: number;
  pgrp: number;
  sid: number;
}

/** Reads /proc/<pid>/stat (see {@link ProcessStat}). */
export function processStat(pid: number): ProcessStat | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name in parentheses may itself contain spaces and parentheses.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]), sid: Number(f[3]) };
}

/** True while a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  const state = processStat(pid)?.state;
  return state !== undefined && state !== "Z" && state !== "X";
}

/** Sends `sig` to `pid`; false when there is no such process (it may have just exited). */
export function signalProcess(pid: number, sig: Deno.Signal): boolean {
  try {
    Deno.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** The shell used when callers pass none. */
export const defaultShell: Shell = new DaxShell();
