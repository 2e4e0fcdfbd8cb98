/**
 * Killing a running `migrate` and looking for what a lab left behind, shared by the kill tests
 * (kill_test.ts: then `lab down`) and the recovery tests (recover_test.ts: then `lab recover`).
 *
 * A migration is started as the CLI would run it, `deno run -A main.ts migrate <lab file> server
 * --to <host> --run-root <root>`, in a child that is SIGSTOPped, its process tree noted, and
 * SIGKILLed once the progress line of the chosen phase appears: what the migration had started
 * keeps running as orphans, as after a real kill.
 */
import assert from "node:assert/strict";
import { repoRoot } from "../../lib/lab/paths.ts";
import type { Lab } from "../../lib/lab/types.ts";
import { readState } from "../../lib/topology/state.ts";
import { leftovers, output } from "../topology/_lab.ts";
import {
  allProcs,
  descendants,
  describeProc,
  type ProcInfo,
  procInfo,
  TrackedProcs,
} from "./_processes.ts";

const MAIN = `${repoRoot()}/main.ts`;
const CONFIG = `${repoRoot()}/deno.json`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Base = "process-migration" | "host-containers";

export interface KillCase {
  base: Base;
  /** Title of the phase as the progress prints it (lib/migrate/run.ts). */
  phase: string;
  /** Kill this long after the phase's line appeared (0: at once). */
  delayMs: number;
  /** Afterwards bring the lab up again and migrate to the end: the lock must not block it. */
  migrateAgain?: boolean;
  /** `--pre-dump` rounds. */
  preDump?: number;
  /** Target host (default h3). */
  to?: string;
  /** Runs and kills this `deno` command line instead of the migration (e.g. `lab recover`). */
  denoArgs?: string[];
}

/** The last lines of every log in the lab's run directory, for a failing case's output. */
export async function logTails(runDir: string): Promise<string> {
  const parts: string[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(runDir)];
  } catch { /* never created */ }
  for (const entry of entries) {
    if (!entry.isFile || !entry.name.endsWith(".log")) continue;
    const text = await Deno.readTextFile(`${runDir}/${entry.name}`).catch(() => "");
    parts.push(`--- ${entry.name}\n${text.trimEnd().split("\n").slice(-12).join("\n")}`);
  }
  return parts.join("\n");
}

/** CRIU's lock rules in the machine's own namespace: nft tables `CRIU-*`, iptables rules. */
export async function rootCriuLocks(): Promise<string[]> {
  const found: string[] = [];
  for (const line of (await output("nft", ["list", "tables"])).split("\n")) {
    if (line.includes("CRIU")) found.push(`nft ${line.trim()}`);
  }
  for (const tool of ["iptables", "ip6tables"]) {
    for (const line of (await output(tool, ["-w", "-S"])).split("\n")) {
      if (/\bCRIU\b|0xc114/.test(line)) found.push(`${tool} ${line.trim()}`);
    }
  }
  return found;
}

/** `net:[inode]` of each of the lab's named network namespaces (pods' included). */
function labNetns(lab: Lab): Map<string, string> {
  const found = new Map<string, string>();
  try {
    for (const entry of Deno.readDirSync("/run/netns")) {
      if (!entry.name.startsWith(`${lab.id}-`)) continue;
      try {
        found.set(`net:[${Deno.statSync(`/run/netns/${entry.name}`).ino}]`, entry.name);
      } catch { /* deleted meanwhile */ }
    }
  } catch { /* no /run/netns */ }
  return found;
}

/** Inodes of every named network namespace now (anyone's). */
function namedNetnsInodes(): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const entry of Deno.readDirSync("/run/netns")) {
      try {
        inodes.add(`net:[${Deno.statSync(`/run/netns/${entry.name}`).ino}]`);
      } catch { /* deleted meanwhile */ }
    }
  } catch { /* none */ }
  return inodes;
}

/** Full ids of the lab's pods and containers (infra included): their cgroups, storage, conmons. */
async function labPodmanIds(lab: Lab): Promise<string[]> {
  const lists = await Promise.all([
    output("podman", ["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]),
    output("podman", ["pod", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"]),
  ]);
  return lists.join("\n").split("\n").map((l) => l.split(" ")).filter(([, name]) =>
    name?.startsWith(`${lab.id}-`)
  ).map(([id]) => id);
}

/** Cgroup directories Podman made (cgroupfs manager) whose name carries one of `ids`. */
function podmanCgroups(ids: Set<string>): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!entry.isDirectory) continue;
      const path = `${dir}/${entry.name}`;
      if ([...ids].some((id) => entry.name.includes(id))) found.push(path);
      else if (depth < 3) walk(path, depth + 1);
    }
  };
  for (const controller of ["freezer", "memory", "pids", "cpu", "unified", "systemd"]) {
    walk(`/sys/fs/cgroup/${controller}/libpod_parent`, 0);
  }
  walk("/sys/fs/cgroup/libpod_parent", 0); // a pure cgroup v2 machine
  return found;
}

/**
 * What ties a process to the lab besides its namespace: its command line, working directory or
 * an open file naming the lab's id prefix (`@t1a2b-s1-eth1`), run root or a container id. CRIU
 * started by runc names none of them on its command line but works in the container's storage.
 */
function refersTo(p: ProcInfo, marks: Set<string>): string | undefined {
  const hit = (s: string) => [...marks].some((m) => s.includes(m));
  if (hit(p.cmdline)) return "names the lab";
  const link = (path: string) => {
    try {
      return Deno.readLinkSync(path);
    } catch {
      return "";
    }
  };
  if (hit(link(`/proc/${p.pid}/cwd`))) return "works in the lab's files";
  try {
    for (const fd of Deno.readDirSync(`/proc/${p.pid}/fd`)) {
      if (hit(link(`/proc/${p.pid}/fd/${fd.name}`))) return "has a lab file open";
    }
  } catch { /* exited, or a kernel thread */ }
  return undefined;
}

/** Everything the test knows about one lab's processes and namespaces. */
export class LabWatch {
  readonly tracked = new TrackedProcs();
  /** `net:[inode]` -> name of the lab's namespaces seen so far. */
  readonly netns = new Map<string, string>();
  /** Strings only the lab's processes carry (see {@link refersTo}). */
  readonly marks: Set<string>;
  /** Ids of the lab's pods and containers seen so far. */
  readonly podmanIds = new Set<string>();

  constructor(readonly lab: Lab, readonly runRoot: string) {
    this.marks = new Set([runRoot, `${lab.id}-`]);
  }

  /** Adds every process of the lab now: in its namespaces, tied to it, or in its state file. */
  async snapshot(podman: boolean): Promise<void> {
    for (const [inode, name] of labNetns(this.lab)) this.netns.set(inode, name);
    if (podman) {
      for (const id of await labPodmanIds(this.lab)) {
        this.marks.add(id);
        this.podmanIds.add(id);
      }
    }
    for (const p of allProcs()) {
      const ns = this.netns.get(p.netns);
      const why = ns ? `in netns ${ns}` : refersTo(p, this.marks);
      if (why) this.tracked.add(p, why);
    }
    for (const obj of (await readState(this.lab.runDir!))?.objects ?? []) {
      if (obj.kind !== "process") continue;
      const pid = Number.parseInt(await Deno.readTextFile(obj.pidFile).catch(() => ""), 10);
      const info = pid > 0 ? procInfo(pid) : undefined;
      if (info) this.tracked.add(info, `lab process ${obj.name}`);
    }
  }

  /** Processes of the lab still running: tracked ones, and any tied to it now. */
  survivors(): string[] {
    const left: string[] = [];
    const alive = this.tracked.alive();
    for (const { info, why } of alive) left.push(`process ${describeProc(info, why)}`);
    const named = namedNetnsInodes();
    for (const p of allProcs()) {
      if (p.pid === Deno.pid || alive.some((t) => t.info.pid === p.pid)) continue;
      // A lab namespace deleted by name lives on while a process is in it; a named one with the
      // same inode is someone else's, created after ours was freed.
      const ns = this.netns.get(p.netns);
      const why = ns && !named.has(p.netns) ? `in deleted netns ${ns}` : refersTo(p, this.marks);
      if (why) left.push(`process ${describeProc(p, why)}`);
    }
    return left;
  }
}

function migrateArgs(lab: Lab, runRoot: string, preDump = 0, to = "h3"): string[] {
  const args = [
    "run",
    "-A",
    "--config",
    CONFIG,
    MAIN,
    "migrate",
    lab.file,
    "server",
    "--to",
    to,
    "--run-root",
    runRoot,
  ];
  return preDump ? [...args, "--pre-dump", String(preDump)] : args;
}

/** Reads a stream into a growing string until it ends. */
function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }): Promise<void> {
  return stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (sink.text += chunk) }),
  );
}

/** Where a killed migration's progress stopped: the last phase begun, and whether it ended. */
function landing(progress: string): string {
  const lines = progress.split("\n");
  const last = lines.findLastIndex((l) => l.startsWith("==> "));
  if (last < 0) return "before any phase";
  const ended = lines.slice(last + 1).some((l) => /^ {4}(ok|warning:)/.test(l));
  return `${ended ? "after" : "inside"} "${lines[last].slice(4)}"`;
}

export interface KillOutcome {
  landed: string;
  progress: string;
}

/**
 * Runs the migrate CLI and SIGKILLs it `delayMs` after it prints `==> <phase>`; its process
 * tree at that moment goes into `tracked`.
 */
export async function migrateAndKill(
  lab: Lab,
  runRoot: string,
  c: KillCase,
  tracked: TrackedProcs,
): Promise<KillOutcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: c.denoArgs ?? migrateArgs(lab, runRoot, c.preDump, c.to),
    cwd: repoRoot(),
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = { text: "" };
  const stdoutDone = collect(child.stdout, stdout).catch(() => {});
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let progress = "";
  const line = `==> ${c.phase}\n`;
  const timeout = sleep(60_000).then(() => "timeout" as const);
  try {
    while (!progress.startsWith(line) && !progress.includes(`\n${line}`)) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === "timeout" || next.done) {
        throw new Error(
          `migrate ${next === "timeout" ? "timed out" : "ended"} before "${c.phase}":\n` +
            `${progress}\n${stdout.text}`,
        );
      }
      progress += next.value;
    }
    if (c.delayMs) await sleep(c.delayMs);
    // Stopped, it cannot start anything between our look at its children and the kill.
    child.kill("SIGSTOP");
    for (const p of descendants(child.pid)) tracked.add(p, "started by migrate");
    child.kill("SIGKILL");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already dead */ }
    const status = await child.status;
    for (;;) {
      const next = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (next.done) break;
      progress += next.value;
    }
    await stdoutDone;
    assert.equal(status.signal, "SIGKILL", `migrate was not killed:\n${progress}`);
  }
  return { landed: landing(progress), progress };
}

/** Runs the migrate CLI to its end; returns exit code and output. */
export async function migrateToEnd(
  lab: Lab,
  runRoot: string,
  to = "h3",
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: migrateArgs(lab, runRoot, 0, to),
    cwd: repoRoot(),
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  return { code: out.code, out: text };
}

/** Everything of the lab still on the machine after `labDown`, as one list. */
export async function whatIsLeft(watch: LabWatch, locksBefore: string[], podman: boolean) {
  const { lab } = watch;
  const left = await leftovers(lab, podman);
  if (podman) {
    // Storage containers Podman no longer lists (e.g. of an import cut short).
    const external = await output("podman", ["ps", "-a", "--external", "--format", "{{.Names}}"]);
    for (const name of external.split("\n")) {
      if (name.startsWith(`${lab.id}-`)) left.push(`storage container ${name}`);
    }
  }
  left.push(...watch.survivors());
  left.push(...podmanCgroups(watch.podmanIds).map((dir) => `cgroup ${dir}`));
  for (const lock of await rootCriuLocks()) {
    if (!locksBefore.includes(lock)) left.push(`CRIU lock in the root namespace: ${lock}`);
  }
  return left;
}
