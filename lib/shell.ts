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
  return netns ? ["nsenter", `--net=${netnsPath(netns)}`, "--", ...argv] : [...argv];
}

export interface DetachOptions {
  /** Network namespace to start in (none: the host's). */
  netns?: string;
  /** File receiving stdout and stderr. */
  logFile: string;
  /** File the new process's pid is written to. */
  pidFile: string;
}

/**
 * Argv that starts a long-lived process detached from us: its own session, stdin from /dev/null,
 * output to a log file, and no other inherited descriptors (CRIU refuses stray ones).
 */
export function detachedArgv(argv: readonly string[], options: DetachOptions): string[] {
  // The inner bash closes every descriptor above 2 that it inherited, writes its own pid and then
  // execs, so the pid is the workload's and CRIU sees only stdin, stdout and stderr.
  const script =
    'for f in /proc/$$/fd/*; do f=${f##*/}; [ "$f" -gt 2 ] && eval "exec $f>&-"; done; ' +
    'echo $$ > "$0"; exec "$@" </dev/null >>"$LOGFILE" 2>&1';
  return [
    "env",
    `LOGFILE=${options.logFile}`,
    ...inNetns(options.netns, ["setsid", "--fork", "bash", "-c", script, options.pidFile, ...argv]),
  ];
}

/** Starts argv detached (see {@link detachedArgv}) and returns its pid. */
export async function spawnDetached(
  shell: Shell,
  argv: readonly string[],
  options: DetachOptions,
): Promise<number> {
  await Deno.remove(options.pidFile).catch(() => {});
  await shell.run(detachedArgv(argv, options));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(options.pidFile).catch(() => "");
    const pid = Number.parseInt(text.trim(), 10);
    if (pid > 0) return pid;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`Process did not start: ${argv.join(" ")} (see ${options.logFile})`);
}

/** True while a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The shell used when callers pass none. */
export const defaultShell: Shell = new DaxShell();
