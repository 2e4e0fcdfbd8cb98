/**
 * Server processes of a lab with machines run as the init of their own pid namespace, as on a
 * machine of their own: the simulated machines share this kernel's pids, and a post-copy
 * migration restores the server on the target while the source's dump still holds the original
 * (frozen, serving its memory) under the same pid. CRIU dumps the namespace with the server and
 * restores it in a new one, so the restored server has its old pid inside and a new one here.
 *
 * @module
 */
import { runDirOf } from "../lab/paths.ts";
import type { Lab } from "../lab/types.ts";
import type { Progress } from "../progress.ts";
import type { Shell } from "../shell.ts";
import type { LabObject } from "../topology/objects.ts";
import { buildWorkloads } from "../workloads/build.ts";
import { readPlacements, writePlacements } from "../workloads/placements.ts";
import { planWorkloadStart, startWorkload } from "../workloads/start.ts";
import { pidAlive } from "../shell.ts";
import { parseProcTcp } from "../net/proc_tcp.ts";

/**
 * Starts a program as the init of a new pid namespace, leading its own session there (CRIU
 * refuses a tree whose session leader is outside its namespace).
 */
export const PID_NAMESPACE_PREFIX = ["unshare", "--pid", "--fork", "setsid"] as const;

/** The direct children of a process. */
export function childrenOf(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/)
      .filter((s) => s).map(Number);
  } catch {
    return [];
  }
}

/** A process and all its descendants, parents first. */
export function processAndDescendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i]));
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `unshare`'s child to run `comm`; returns its pid here. */
async function namespaceInit(unsharePid: number, comm: string, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const child of childrenOf(unsharePid)) {
      const name = await Deno.readTextFile(`/proc/${child}/comm`).catch(() => "");
      if (name.trim() === comm.slice(0, 15)) return child;
    }
    await sleep(2);
  }
  throw new Error(`${comm} did not start in its pid namespace (unshare pid ${unsharePid})`);
}

/** Waits until `pid`'s namespace has a TCP listener on `port` (bounded by `timeoutMs`). */
export async function waitListening(pid: number, port: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const table = await Deno.readTextFile(`/proc/${pid}/net/tcp`).catch(() => undefined);
    if (table === undefined) throw new Error(`server pid ${pid} exited before it listened`);
    if (parseProcTcp(table).some((s) => s.state === "LISTEN" && s.localPort === port)) return;
    await sleep(20);
  }
  throw new Error(`server pid ${pid} did not listen on port ${port} in ${timeoutMs / 1000} s`);
}

export interface StartContext {
  shell: Shell;
  progress: Progress;
  record(objects: LabObject[]): Promise<void>;
}

/**
 * Starts the lab's server processes that do not run yet, each in its own pid namespace, and
 * records their placements with the server's own pid (what CRIU dumps). Clients and containers
 * are left to the local runtime.
 */
export async function startServersInPidNamespaces(lab: Lab, ctx: StartContext): Promise<void> {
  const runDir = runDirOf(lab);
  const paths = await buildWorkloads({ shell: ctx.shell });
  const placements = await readPlacements(runDir);
  for (const w of lab.workloads.filter((w) => w.role === "server" && w.kind === "process")) {
    const current = placements.find((p) => p.name === w.name);
    if (current?.pid !== undefined && pidAlive(current.pid)) continue;
    const plan = planWorkloadStart(lab, w, paths, runDir);
    const comm = plan.argv[0].split("/").pop()!.slice(0, 15);
    const done = ctx.progress.step(`workload ${w.name} on ${plan.host.name} (own pid namespace)`);
    await ctx.record([{ kind: "process", name: w.name, pidFile: plan.pidFile!, comm }]);
    const started = await startWorkload(ctx.shell, {
      ...plan,
      argv: [...PID_NAMESPACE_PREFIX, ...plan.argv],
    });
    const pid = await namespaceInit(started.pid!, comm);
    await Deno.writeTextFile(plan.pidFile!, `${pid}\n`);
    // A server with much memory touches it all before it listens: its clients start after.
    await waitListening(pid, lab.loadBalancer.servicePort);
    const placement = { ...started, pid };
    placements.splice(0, placements.length, ...placements.filter((p) => p.name !== w.name));
    placements.push(placement);
    await writePlacements(runDir, placements);
    done(`pid ${pid}`);
  }
}
