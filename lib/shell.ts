/**
 * The one seam through which the library runs commands.
 *
 * Library code builds argv arrays (pure, testable) and hands them to a {@link Shell}. The default
 * {@link SystemShell} runs them for real; tests pass a {@link RecordingShell} to assert the exact
 * arguments without root, or the real shell for integration tests.
 *
 * Every command the real shell runs has a time bound (its watchdog): {@link commandTimeoutMs}
 * picks it (per call, else `P4CF_COMMAND_TIMEOUT_S`, else per program: Podman and CRIU 120 s,
 * anything else 300 s). A command past its bound is killed with every process it started
 * ({@link killProcessTree}) and fails with a {@link CommandTimeoutError} naming it, its argv and
 * the bound, so a stuck `podman` or `criu` fails its step instead of hanging the run.
 *
 * ```ts
 * const { stdout } = await defaultShell.run(["podman", "ps", "-q"], { timeoutMs: 30_000 });
 * ```
 *
 * @module
 */
import { which } from "./capabilities.ts";
import { CommandError, CommandTimeoutError, timeoutMessage } from "./errors.ts";
import { nonNegativeSetting } from "./settings.ts";

export interface RunOptions {
  /**
   * Text written to the command's stdin. A promise is written once it resolves: the command is
   * started now and waits for its input (e.g. `nft -f -` started before it is needed).
   */
  stdin?: string | Promise<string>;
  /**
   * Throw {@link CommandError} on a non-zero exit (default true). With `false`, a command killed
   * by the watchdog returns exit code 124 and `timedOut: true`, with the watchdog's message as
   * the last line of its stderr, instead of throwing {@link CommandTimeoutError}.
   */
  check?: boolean;
  /**
   * Kill the command (and its children) after this many milliseconds; 0: no bound. Default:
   * {@link commandTimeoutMs}.
   */
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the watchdog killed the command (only seen with `check: false`). */
  timedOut?: boolean;
}

export interface Shell {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** Default time bounds of the watchdog, in seconds, by program (see {@link commandTimeoutMs}). */
export const COMMAND_TIMEOUTS_S: Readonly<Record<string, number>> = { podman: 120, criu: 120 };

/** The bound for programs not in {@link COMMAND_TIMEOUTS_S}, in seconds. */
export const DEFAULT_COMMAND_TIMEOUT_S = 300;

/** The environment variable replacing every default bound (seconds; 0 turns the watchdog off). */
export const COMMAND_TIMEOUT_ENV = "P4CF_COMMAND_TIMEOUT_S";

/** How long killed commands get to exit on SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

// Wrappers that run another program: the bound is that program's. Values: options that take an
// argument of their own.
const WRAPPERS: Record<string, readonly string[]> = {
  nsenter: ["-t", "--target", "-S", "--setuid", "-G", "--setgid"],
  env: ["-u", "--unset", "-C", "--chdir", "-S", "--split-string"],
  setsid: [],
  nice: ["-n", "--adjustment"],
  ionice: ["-c", "--class", "-n", "--classdata"],
  timeout: ["-k", "--kill-after", "-s", "--signal"],
  unshare: [],
  chroot: [],
  stdbuf: ["-i", "-o", "-e"],
};

/**
 * The program an argv runs, looking through wrappers (`nsenter … --`, `env VAR=x`, `setsid`,
 * `ip netns exec <ns>`, `timeout 5`, …): `podman` for `nsenter --net=/run/netns/h1 -- podman ps`.
 */
export function commandProgram(argv: readonly string[]): string {
  let i = 0;
  for (let depth = 0; depth < 8 && i < argv.length; depth++) {
    const name = basename(argv[i]);
    if (name === "ip" && argv[i + 1] === "netns" && argv[i + 2] === "exec") {
      i += 4;
      continue;
    }
    const valued = WRAPPERS[name];
    if (!valued) return name;
    i++;
    while (i < argv.length) {
      const a = argv[i];
      if (a === "--") {
        i++;
        break;
      }
      if (name === "env" && /^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) i++;
      else if (a.startsWith("-") && a !== "-") i += valued.includes(a) ? 2 : 1;
      else if (name === "timeout") {
        i++; // the duration
        break;
      } else if (name === "chroot") {
        i++; // the new root
        break;
      } else break;
    }
  }
  return i < argv.length ? basename(argv[i]) : basename(argv[0] ?? "");
}

/**
 * The watchdog's bound for argv in ms, or undefined for none: `timeoutMs` when given (0: none),
 * else `P4CF_COMMAND_TIMEOUT_S` when set (0: none), else {@link COMMAND_TIMEOUTS_S} for the
 * program ({@link commandProgram}), else {@link DEFAULT_COMMAND_TIMEOUT_S}.
 *
 * @throws {UserError} when `P4CF_COMMAND_TIMEOUT_S` is not a number of seconds (see settings.ts).
 */
export function commandTimeoutMs(
  argv: readonly string[],
  timeoutMs?: number,
  setting: string | undefined = Deno.env.get(COMMAND_TIMEOUT_ENV),
): number | undefined {
  if (timeoutMs !== undefined) return timeoutMs > 0 ? timeoutMs : undefined;
  const s = nonNegativeSetting(
    COMMAND_TIMEOUT_ENV,
    setting,
    "seconds",
    `set it to the bound for every external command, e.g. ${COMMAND_TIMEOUT_ENV}=600 ` +
      "(0 turns the watchdog off), or unset it for the defaults",
  );
  if (s !== undefined) return s > 0 ? s * 1000 : undefined;
  return (COMMAND_TIMEOUTS_S[commandProgram(argv)] ?? DEFAULT_COMMAND_TIMEOUT_S) * 1000;
}

/** Runs commands for real (argv elements are passed as they are, never re-split by a shell). */
export class SystemShell implements Shell {
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = commandTimeoutMs(argv, options.timeoutMs);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(argv[0], {
        args: argv.slice(1),
        stdin: options.stdin !== undefined ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
        env: options.env,
        cwd: options.cwd,
      }).spawn();
    } catch (err) {
      return finish(argv, options, spawnFailure(argv, options, err));
    }
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    const stdin = options.stdin !== undefined ? writeStdin(child, options.stdin) : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let killed: number[] | undefined;
    const watchdog = new Promise<"timeout">((resolve) => {
      if (timeoutMs !== undefined) timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    // Done when it exits and its output ends (a child of it may hold the pipes longer).
    const done = Promise.all([child.status, stdout.done, stderr.done]);
    try {
      if ((await Promise.race([done, watchdog])) === "timeout") {
        killed = await killProcessTree(child.pid);
        await child.status;
        // Output held open by a process that escaped the kill: stop reading it.
        const ended = await within(Promise.all([stdout.done, stderr.done]), 1000);
        if (!ended) await Promise.all([stdout.cancel(), stderr.cancel()]);
      }
    } finally {
      clearTimeout(timer);
      // Its stdin is written once the command has ended, unless something that escaped it keeps
      // the pipe open without reading.
      if (stdin) await within(stdin, 1000);
    }
    const status = await child.status;
    const out = { code: status.code, stdout: stdout.text(), stderr: stderr.text() };
    if (killed === undefined) return finish(argv, options, out);
    const program = commandProgram(argv);
    if (options.check !== false) {
      throw new CommandTimeoutError(argv, timeoutMs!, out.stdout, out.stderr, killed, program);
    }
    const line = timeoutMessage(program, argv, timeoutMs!, killed.length);
    const stderrText = out.stderr && !out.stderr.endsWith("\n") ? `${out.stderr}\n` : out.stderr;
    return { code: 124, stdout: out.stdout, stderr: `${stderrText}${line}\n`, timedOut: true };
  }
}

/** The real shell under its former name. */
export const DaxShell = SystemShell;
/** The real shell under its former name. */
export type DaxShell = SystemShell;

function finish(argv: readonly string[], options: RunOptions, out: RunResult): RunResult {
  if (options.check !== false && out.code !== 0) {
    throw new CommandError(argv, out.code, out.stdout, out.stderr);
  }
  return out;
}

/** As a shell reports a program it cannot start: 127 not found, 126 not executable. */
function spawnFailure(argv: readonly string[], options: RunOptions, err: unknown): RunResult {
  if (options.cwd !== undefined) {
    try {
      Deno.statSync(options.cwd);
    } catch {
      throw new Error(
        `Cannot run ${argv[0]}: its working directory ${options.cwd} does not exist`,
        {
          cause: err,
        },
      );
    }
  }
  if (err instanceof Deno.errors.NotFound) {
    return { code: 127, stdout: "", stderr: `${argv[0]}: command not found\n` };
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return { code: 126, stdout: "", stderr: `${argv[0]}: permission denied\n` };
  }
  throw err;
}

interface Collected {
  /** Resolves when the stream ends (or is cancelled). */
  done: Promise<void>;
  text(): string;
  cancel(): Promise<void>;
}

function collect(stream: ReadableStream<Uint8Array>): Collected {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const done = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // Cancelled, or the pipe broke: keep what was read.
    } finally {
      text += decoder.decode();
    }
  })();
  return {
    done,
    text: () => text,
    cancel: async () => {
      await reader.cancel().catch(() => {});
      await done;
    },
  };
}

async function writeStdin(
  child: Deno.ChildProcess,
  input: string | Promise<string>,
): Promise<void> {
  const writer = child.stdin.getWriter();
  try {
    await writer.write(new TextEncoder().encode(await input));
    await writer.close();
  } catch {
    // The command exited without reading all of it (EPIPE): as a shell pipe would.
    await writer.abort().catch(() => {});
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits for `promise` at most `ms`; true when it settled in time. Leaves no timer behind. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** One process of a table read from /proc. */
interface ProcRow extends ProcessStat {
  pid: number;
}

function processTable(): ProcRow[] {
  const rows: ProcRow[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const stat = processStat(pid);
    if (stat) rows.push({ ...stat, pid });
  }
  return rows;
}

/**
 * The processes belonging to `roots`: themselves, their descendants, and every member of a
 * process group or session one of them leads (which catches processes that moved to a group of
 * their own, and those of such a group whose parent already exited). Never this process, its
 * own group or session, or PID 1.
 */
export function processTreeOf(roots: readonly number[], table = processTable()): number[] {
  const self = processStat(Deno.pid);
  const mine = (row: ProcRow) =>
    row.pid === Deno.pid || row.pid === 1 ||
    (self !== undefined && (row.pid === self.pgrp || row.pid === self.sid));
  const found = new Set<number>(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const row of table) {
      if (found.has(row.pid) || mine(row) || row.state === "Z") continue;
      const leader = found.has(row.pgrp) && row.pgrp !== self?.pgrp ||
        found.has(row.sid) && row.sid !== self?.sid;
      if (found.has(row.ppid) || leader) {
        found.add(row.pid);
        grew = true;
      }
    }
  }
  return [...found].filter((pid) => pid !== Deno.pid && pid !== 1);
}

/**
 * Kills a command and everything it started: SIGTERM to the whole tree ({@link processTreeOf},
 * taken before anything dies, so nothing is lost to re-parenting), up to 2 s to exit, then the
 * rest is stopped (so it cannot fork away), looked for again and killed with SIGKILL. Returns
 * the pids it signalled.
 */
export async function killProcessTree(
  pid: number,
  options: { graceMs?: number } = {},
): Promise<number[]> {
  const identity = new Map<number, string>();
  const remember = (pids: readonly number[], table: ProcRow[]) => {
    for (const p of pids) {
      const row = table.find((r) => r.pid === p);
      if (row && !identity.has(p)) identity.set(p, row.startTime);
    }
  };
  // The same process still (not a new one that reused the pid), and not yet dead.
  const live = (p: number) => {
    const stat = processStat(p);
    return stat !== undefined && stat.state !== "Z" && stat.state !== "X" &&
      stat.startTime === identity.get(p);
  };
  let table = processTable();
  remember(processTreeOf([pid], table), table);
  for (const p of identity.keys()) signalProcess(p, "SIGTERM");
  const deadline = Date.now() + (options.graceMs ?? KILL_GRACE_MS);
  while (Date.now() < deadline && [...identity.keys()].some(live)) await delay(20);
  // Survivors: freeze them and whatever they started meanwhile, until nothing new turns up.
  for (let round = 0; round < 5; round++) {
    const alive = [...identity.keys()].filter(live);
    if (!alive.length) break;
    for (const p of alive) signalProcess(p, "SIGSTOP");
    table = processTable();
    const before = identity.size;
    remember(processTreeOf(alive, table), table);
    if (identity.size === before) break;
  }
  for (const p of identity.keys()) if (live(p)) signalProcess(p, "SIGKILL");
  return [...identity.keys()];
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

/** Quotes `s` as one word for `sh` (pure). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
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
  /**
   * How long to wait for the pid (default 5 s); past it the start is killed and fails with a
   * {@link CommandTimeoutError}.
   */
  startTimeoutMs?: number;
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
  const startMs = options.startTimeoutMs ?? 5000;
  const deadline = Date.now() + startMs;
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
  // Its waiting parent (which names the pid file) and anything it started go: nothing of a start
  // that failed is left running.
  const killed: number[] = [];
  for (const waiter of findProcesses((args) => args.includes(options.pidFile))) {
    killed.push(...await killProcessTree(waiter));
  }
  throw new CommandTimeoutError(
    argv,
    startMs,
    "",
    `did not start (no pid in ${options.pidFile}); see ${options.logFile}`,
    killed,
  );
}

/** Pids of the processes whose argv satisfies `match` (not this process). */
export function findProcesses(match: (argv: string[]) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    let raw: string;
    try {
      raw = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
    } catch {
      continue;
    }
    if (raw && match(raw.replace(/\0$/, "").split("\0"))) pids.push(Number(entry.name));
  }
  return pids;
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
  /** Start time in clock ticks since boot: with the pid, it names one process for good. */
  startTime: string;
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
  return {
    state: f[0],
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    sid: Number(f[3]),
    startTime: f[19],
  };
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
export const defaultShell: Shell = new SystemShell();
