/**
 * Watching a student's migration (exercises 3 and 4) from the outside, so that the grader judges
 * what happened and in which order, not what the code looks like:
 *
 * - the controller handed to the student is an {@link ObservedController}: before it forwards a
 *   switch change, it looks at the machine (which server runs on the target, stopped or not,
 *   holding which connections; whether CRIU's lock still guards the source) and notes the time;
 * - a {@link MigrationWatch} polls `/proc` while the code runs: when the original server
 *   disappears from the source, and when a server left stopped on the target starts running;
 * - {@link lookAt} takes the same look once more after the code returned.
 *
 * The judges turn that record into verdicts; they are pure and tested without a lab.
 *
 * @module
 */
import { ControllerApi } from "../controller/api_client.ts";
import { controllerAddressPath } from "../controller/api_types.ts";
import type { ChangeResult } from "../controller/api_types.ts";
import type { Lab } from "../lab/types.ts";
import { inNetns, type Shell } from "../shell.ts";
import type { MigrationHost } from "./contexts.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import { criuLocks } from "./probes.ts";
import { isStopped, procInfo, procNetns, socketsOf, startedAtMs } from "./proc_view.ts";

/** A server process as seen at one moment. */
export interface ServerView {
  pid: number;
  /** `/proc` state letter: `T` stopped, `S`/`R` running. */
  state: string;
  /** Unix ms it started (for a restored server: when CRIU recreated it), 10 ms resolution. */
  startedAt: number;
  listening: boolean;
  /** Established connections from the client's address it holds. */
  clientConnections: number;
}

/** The machine as the grader saw it at one moment. */
export interface Look {
  at: number;
  /** Servers listening on the service port in the target's namespace. */
  target: ServerView[];
  /** ...and in the source's. */
  source: ServerView[];
  /** CRIU's lock rules and tables left in the source namespace. */
  sourceLocks: string[];
}

/**
 * One switch change the student asked for, and the look taken just before it was made (a
 * {@link Look}, or what another exercise looks at).
 */
export interface SwitchCall<L = Look> {
  call: string;
  /** When the student's call reached the controller object (unix ms). */
  at: number;
  /** When the switch had been changed. */
  doneAt?: number;
  error?: string;
  before: L;
}

/** What a look needs to know about the lab. */
export interface LookTarget {
  shell: Shell;
  source: MigrationHost;
  target: MigrationHost;
  port: number;
  clientIp: string;
}

/** `ss` listing the listeners on `port` with their processes. */
export function listenerPidsArgv(port: number): string[] {
  return ["ss", "-H", "-l", "-t", "-n", "-p", `sport = :${port}`];
}

/** Pids in `ss -p` output (`users:(("counter_server",pid=123,fd=3))`). */
export function parseListenerPids(out: string): number[] {
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

async function serversIn(t: LookTarget, netns: string): Promise<ServerView[]> {
  return await serversAt(t.shell, (argv) => inNetns(netns, argv), t.port, t.clientIp);
}

/**
 * The servers listening on `port` in the network namespace `enter` runs a command in (a named
 * one, or a pod's by path), with the connections from `clientIp` each holds.
 */
export async function serversAt(
  shell: Shell,
  enter: (argv: string[]) => string[],
  port: number,
  clientIp: string,
): Promise<ServerView[]> {
  const r = await shell.run(enter(listenerPidsArgv(port)), { check: false });
  const views: ServerView[] = [];
  for (const pid of parseListenerPids(r.stdout)) {
    const info = await procInfo(pid);
    if (!info) continue;
    const sockets = await socketsOf(pid, port);
    views.push({
      pid,
      state: info.state,
      startedAt: startedAtMs(info),
      listening: sockets.some((s) => s.state === "LISTEN"),
      clientConnections: sockets.filter((s) =>
        s.state === "ESTABLISHED" && s.remoteIp === clientIp
      ).length,
    });
  }
  return views;
}

/** Takes a look: servers on both sides, CRIU's lock on the source. */
export async function lookAt(t: LookTarget): Promise<Look> {
  const at = Date.now();
  const [target, source, sourceLocks] = await Promise.all([
    serversIn(t, t.target.netns),
    serversIn(t, t.source.netns),
    criuLocks(t.shell, t.source.netns),
  ]);
  return { at, target, source, sourceLocks };
}

/**
 * The lab's controller API, noting every switch change: the look just before it, and when it was
 * made. Handed to the student's code as `m.controller`.
 */
export class ObservedController<L = Look> extends ControllerApi {
  readonly calls: SwitchCall<L>[] = [];
  readonly #look: () => Promise<L>;

  constructor(url: string, options: { lab: string; token: string }, look: () => Promise<L>) {
    super(url, { ...options, timeoutMs: 10_000 });
    this.#look = look;
  }

  /** The lab's controller, found through its address file, observed with `look`. */
  static async forLabObserved<L = Look>(
    lab: Lab,
    look: () => Promise<L>,
  ): Promise<ObservedController<L>> {
    const address = JSON.parse(await Deno.readTextFile(controllerAddressPath(lab.runDir!)));
    return new ObservedController<L>(address.url, { lab: lab.name, token: address.token }, look);
  }

  async #observe(call: string, change: () => Promise<ChangeResult>): Promise<ChangeResult> {
    const at = Date.now();
    const record: SwitchCall<L> = { call, at, before: await this.#look() };
    this.calls.push(record);
    try {
      const result = await change();
      record.doneAt = Date.now();
      return result;
    } catch (err) {
      record.error = (err as Error).message;
      throw err;
    }
  }

  override migrateBackend(backend: string | number, toHost: string): Promise<ChangeResult> {
    return this.#observe(
      `migrateBackend(${JSON.stringify(backend)}, ${JSON.stringify(toHost)})`,
      () => super.migrateBackend(backend, toHost),
    );
  }

  override addBackend(host: string): Promise<ChangeResult> {
    return this.#observe(`addBackend(${JSON.stringify(host)})`, () => super.addBackend(host));
  }

  override removeBackend(backend: string | number): Promise<ChangeResult> {
    return this.#observe(
      `removeBackend(${JSON.stringify(backend)})`,
      () => super.removeBackend(backend),
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `/proc` while the student's code runs: when the original server left the source
 * namespace, and when a restored server that was stopped started to run.
 */
export class MigrationWatch {
  /** When the original server process disappeared (or left the source namespace). */
  sourceGoneAt?: number;
  /** When the server found stopped at the first switch change was running again. */
  resumedAt?: number;
  #stopped = false;
  #loop?: Promise<void>;

  constructor(
    readonly originalPid: number,
    readonly sourceNetnsIno: number | undefined,
    readonly calls: () => readonly SwitchCall[],
  ) {}

  start(): void {
    this.#loop = (async () => {
      while (!this.#stopped) {
        await this.poll();
        await sleep(2);
      }
    })();
  }

  /** One round of observation (exposed for the final look). */
  async poll(): Promise<void> {
    // Each time is taken after the reading: the change happened at that time or before, never
    // after, so a resume seen before the switch change was done really came before it.
    if (this.sourceGoneAt === undefined) {
      const info = await procInfo(this.originalPid);
      const ns = info ? await procNetns(this.originalPid) : undefined;
      if (!info || info.state === "Z" || (ns !== undefined && ns !== this.sourceNetnsIno)) {
        this.sourceGoneAt = Date.now();
      }
    }
    const first = this.calls()[0];
    const waiting = first?.before.target.find((s) => s.state === "T" || s.state === "t");
    if (waiting && this.resumedAt === undefined) {
      const info = await procInfo(waiting.pid);
      if (info && !isStopped(info)) this.resumedAt = Date.now();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    await this.poll();
  }
}

/** Everything observed around one run of the student's migration. */
export interface MigrationRecord {
  source: MigrationHost;
  target: MigrationHost;
  /** When the student's function was called and when it returned (unix ms). */
  startedAt: number;
  endedAt: number;
  /** The client's connections before the migration. */
  connections: number;
  sourceGoneAt?: number;
  resumedAt?: number;
  calls: readonly SwitchCall[];
  /** The look right after the code returned. */
  after: Look;
  /** The look once the client had time to talk (default: `after`). */
  settled?: Look;
}

const rel = (r: MigrationRecord, t: number | undefined) =>
  t === undefined ? "?" : `+${Math.max(0, t - r.startedAt).toFixed(0)} ms`;

/** One line with the order of events: `server left h2 +41 ms · restored on h3 ~+90 ms · ...`. */
export function describeTimeline(r: MigrationRecord): string {
  const events: [number, string][] = [];
  if (r.sourceGoneAt !== undefined) events.push([r.sourceGoneAt, `server left ${r.source.name}`]);
  const restored = r.calls[0]?.before.target[0] ?? r.after.target[0];
  if (restored && restored.startedAt >= r.startedAt - 10) {
    events.push([restored.startedAt, `restored on ${r.target.name} (±10 ms)`]);
  }
  const first = r.calls[0];
  if (first) {
    const state = first.before.target.length
      ? (first.before.target.some((s) => s.state === "T") ? "server stopped" : "server running")
      : `nothing on ${r.target.name}`;
    events.push([first.at, `switch asked (${state})`]);
  }
  if (r.resumedAt !== undefined) events.push([r.resumedAt, "resumed"]);
  events.push([r.endedAt, "returned"]);
  return events.sort((a, b) => a[0] - b[0]).map(([t, what]) => `${what} ${rel(r, t)}`).join(
    " · ",
  );
}

const moved = (r: MigrationRecord) =>
  r.after.source.length === 0 && r.after.target.some((s) => s.listening);

/** The server left the source and now runs on the target, holding the client's connections. */
export function judgeServerMoved(r: MigrationRecord): Verdict {
  const { source, target } = r;
  if (r.after.source.length) {
    const s = r.after.source[0];
    return fail(
      `a server still listens on ${source.name} (pid ${s.pid})` +
        (r.after.target.length ? ` and another on ${target.name}` : "") +
        (r.sourceGoneAt === undefined ? ": the original never stopped" : ""),
      "a checkpoint that is restored elsewhere must not keep running where it was",
    );
  }
  const there = r.after.target.find((s) => s.listening);
  if (!there) {
    return fail(
      `nothing listens on the service port on ${target.name}, and the server is gone from ` +
        source.name +
        (r.sourceGoneAt !== undefined ? ` (since ${rel(r, r.sourceGoneAt)})` : ""),
      `what was checkpointed on ${source.name} must be restored on ${target.name}`,
    );
  }
  // The connections it held at the switch change count too: losing them afterwards is what the
  // order and survival criteria judge.
  const held = Math.max(
    there.clientConnections,
    ...r.calls.flatMap((c) => c.before.target.filter((s) => s.pid === there.pid))
      .map((s) => s.clientConnections),
  );
  if (held === 0) {
    return fail(
      `pid ${there.pid} listens on ${target.name} but holds none of the client's connections ` +
        "(never restored, or lost on the way)",
      "connections travel in the checkpoint only when it is taken and restored with them, and " +
        "one that is reset on the way is gone for good: the criteria below say when",
    );
  }
  return pass(
    `pid ${there.pid} on ${target.name} holds ${held} of the client's connections; ` +
      describeTimeline(r),
  );
}

/** The first switch change came after the restore: the target held the connections then. */
export function judgeSwitchAfterRestore(r: MigrationRecord): Verdict {
  const first = r.calls[0];
  if (!first) {
    return fail(
      `the switch was never asked to move the backend, so the VIP still leads to ${r.source.name}`,
      "the lab's controller owns the switch; it is in the migration context you receive",
    );
  }
  const ready = first.before.target.find((s) => s.listening && s.clientConnections > 0);
  if (!ready) {
    return fail(
      `the switch was changed at ${rel(r, first.at)} (${first.call}), when ` +
        (first.before.target.length
          ? `${r.target.name}'s server held none of the client's connections yet`
          : `nothing ran on ${r.target.name} yet`) +
        `; ${describeTimeline(r)}`,
      `a client packet reaching ${r.target.name} before the restored sockets exist is answered ` +
        "with a reset, which ends the connection: in which order must the steps run?",
    );
  }
  return pass(
    `at ${rel(r, first.at)} pid ${ready.pid} already held ${ready.clientConnections} ` +
      `connection(s) on ${r.target.name}`,
  );
}

/** CRIU's lock stayed on the source until the switch moved, and was removed after it. */
export function judgeLockLifetime(r: MigrationRecord): Verdict {
  const first = r.calls[0];
  if (!first) {
    return fail(
      "the switch never moved, so there is no moment at which the lock could be released",
      "the lock guards the source until the traffic goes elsewhere",
    );
  }
  if (first.before.sourceLocks.length === 0) {
    return fail(
      `CRIU's lock was already gone from ${r.source.name} when the switch moved ` +
        `(${rel(r, first.at)}): until then the client's packets still reach ${r.source.name}, ` +
        "whose kernel has no socket for them any more and resets the connection",
      "release the lock only once nothing sends traffic to the source any more",
    );
  }
  const locks = (r.settled ?? r.after).sourceLocks;
  if (locks.length) {
    return fail(
      `${r.source.name} still has ${locks.join("; ")} after the migration: it ` +
        "would drop any new traffic to that address",
      "once the switch has moved, the lock has done its job",
    );
  }
  return pass(
    `held at the switch change (${first.before.sourceLocks.length} rule(s)/table(s)), gone after`,
  );
}

/** The restored server waited, stopped, until the switch had moved, and runs now. */
export function judgeResumeAfterSwitch(r: MigrationRecord): Verdict {
  const first = r.calls[0];
  if (!first) {
    return fail(
      "the switch never moved",
      "restore stopped, move the switch, then let the server run",
    );
  }
  const atSwitch = first.before.target.find((s) => s.listening);
  if (!atSwitch) {
    return fail(
      `nothing ran on ${r.target.name} when the switch moved`,
      "the restore comes before the switch",
    );
  }
  if (atSwitch.state !== "T" && atSwitch.state !== "t") {
    return fail(
      `the restored server (pid ${atSwitch.pid}) was already running when the switch moved: it ` +
        `answers the requests queued in its sockets from ${r.target.name}, and the client's ` +
        `next requests still go to ${r.source.name}, where the lock drops them (a retransmission, ` +
        "200 ms or more, later)",
      "CRIU can leave the restored tasks stopped; a signal lets them go on",
    );
  }
  const last = r.settled ?? r.after;
  const now = last.target.find((s) => s.pid === atSwitch.pid) ??
    last.target.find((s) => s.listening);
  if (!now || now.state === "T" || now.state === "t") {
    return fail(
      `the restored server (pid ${atSwitch.pid}) is still stopped after the migration: the ` +
        "client waits forever",
      "a stopped process goes on when it receives SIGCONT",
    );
  }
  if (r.resumedAt !== undefined && first.doneAt !== undefined && r.resumedAt < first.doneAt) {
    return fail(
      `the server ran again at ${rel(r, r.resumedAt)}, before the switch change was done ` +
        `(${rel(r, first.doneAt)})`,
      "wait for the switch change to finish before resuming",
    );
  }
  return pass(
    `stopped at the switch change ${rel(r, first.at)}, running again ` +
      `${r.resumedAt !== undefined ? rel(r, r.resumedAt) : "after it"}`,
  );
}

/** The returned pid is the server process that now holds the connections on the target. */
export function judgeReturnedPid(
  r: MigrationRecord,
  returned: unknown,
  targetNetnsIno: number | undefined,
  returnedNetnsIno: number | undefined,
): Verdict {
  const owner = r.after.target.find((s) => s.listening);
  if (typeof returned !== "number" || !Number.isInteger(returned) || returned <= 0) {
    return fail(
      `it returned ${JSON.stringify(returned)}, not a pid`,
      "return the pid of the server process that runs on the target now",
    );
  }
  if (owner?.pid === returned) {
    return pass(`pid ${returned} listens and holds the connections on ${r.target.name}`);
  }
  const where = returnedNetnsIno === undefined
    ? "does not exist (any more)"
    : returnedNetnsIno === targetNetnsIno
    ? `runs on ${r.target.name} but is not the server listening there`
    : `does not run on ${r.target.name}`;
  return fail(
    `it returned ${returned}, which ${where}` +
      (owner ? `; the server on ${r.target.name} is pid ${owner.pid}` : ""),
    "the process that owns the connections after a restore is the one the restore reports",
  );
}

/** Reads a pid's namespace inode (for {@link judgeReturnedPid}). */
export async function netnsOfPid(pid: unknown): Promise<number | undefined> {
  return typeof pid === "number" && Number.isInteger(pid) && pid > 0
    ? await procNetns(pid)
    : undefined;
}

/** Gate for the client criteria: they judge a migration only when one happened. */
export function serverMoved(r: MigrationRecord): boolean {
  return moved(r);
}
