/**
 * The controller of one lab: owns a P4Runtime session (primary) with every switch and the load
 * balancer's state, programs the switches from the entry planner, and applies backend changes
 * (add, remove, migrate) as exactly the planned updates.
 *
 * - `start()` connects to every switch (retrying while they start), makes sure each runs the
 *   compiled pipeline (kept when the switch already runs this exact build, so a restarted
 *   controller does not wipe the per-connection memory), and writes what differs from the plan.
 * - A migration is one Write RPC with its three updates (INSERT reverse rewrite, MODIFY backend,
 *   DELETE old reverse rewrite): no reads, nothing else on the hot path.
 * - Bad input is refused with a UserError before anything is written; a switch that rejects a
 *   change gets the applied part undone, and the state stays as it was.
 * - The state is saved to a JSON file after every change and reloaded on start.
 *
 * Operations are serialized: each plans against the state the previous one left.
 *
 * @module
 */
import { switchFiles } from "../bmv2/switch.ts";
import { UserError } from "../errors.ts";
import { isLabSwitchCmdline } from "../lab/naming.ts";
import { closest } from "../lab/suggest.ts";
import { describeOwner, portInUse, portOwners } from "../net/port_owner.ts";
import type { Host, Lab, Switch } from "../lab/types.ts";
import {
  type Backend,
  type EntryUpdate,
  initialLbState,
  type LbState,
  planAddBackend,
  planLabEntries,
  planLbEntries,
  planMigrateBackend,
  type PlannedChange,
  planRemoveBackend,
  type TableEntry as PlannedEntry,
} from "../lb/entries.ts";
import { COUNTERS, DROP_REASONS, FLOW_EVENTS } from "../p4/lb_program.ts";
import { P4RuntimeClient } from "../p4runtime/client.ts";
import { P4RuntimeError, P4RuntimeWriteError } from "../p4runtime/errors.ts";
import {
  Code,
  PipelineResponseType,
  type TableEntry as P4TableEntry,
  type Update,
} from "../p4runtime/messages.ts";
import { type Progress, silentProgress } from "../progress.ts";
import type {
  BackendInfo,
  BackendList,
  ChangeResult,
  ControllerHealth,
  LbCounters,
  SwitchHealth,
  SwitchVerification,
} from "./api_types.ts";
import {
  defaultPipelinePaths,
  loadPipeline,
  type Pipeline,
  type PipelinePaths,
} from "./pipeline.ts";
import { lbStatePath, loadLbState, saveLbState } from "./state_file.ts";
import {
  diffSwitchEntries,
  encodeUpdates,
  type EntryView,
  inverseUpdates,
  viewEntry,
  viewPlanned,
} from "./switch_entries.ts";

export type {
  BackendInfo,
  BackendList,
  ChangeResult,
  ControllerHealth,
  LbCounters,
  SwitchHealth,
  SwitchVerification,
} from "./api_types.ts";

export interface ControllerOptions {
  /** Compiled pipeline files (default: `p4/build/` of the repository). */
  pipeline?: PipelinePaths;
  /**
   * Where the load-balancer state is saved and reloaded from (default `<lab.runDir>/lb_state.json`;
   * null: keep it in memory only).
   */
  stateFile?: string | null;
  /** Our election id on every switch (default 1). */
  electionId?: bigint;
  /** How long to keep retrying each switch while it starts (default 20 s). */
  connectTimeoutMs?: number;
  /** Deadline of each P4Runtime RPC (default 10 s). */
  rpcTimeoutMs?: number;
  /** Updates per Write RPC when programming a switch (default 1000). */
  batchSize?: number;
  /** Slots of a fresh state (default: the planner's). */
  slotCount?: number;
  /** Push the pipeline even when a switch already runs this build (clears its state). */
  forcePipeline?: boolean;
  /**
   * Before writing a byte, check that the process listening on each switch's gRPC port is a
   * BMv2 of this lab (bound to the lab's interfaces), not another lab's switch on the same port
   * (default true; tests against an in-process fake switch turn it off).
   */
  verifySwitchOwner?: boolean;
  progress?: Progress;
}

interface Session {
  sw: Switch;
  address: string;
  client?: P4RuntimeClient;
  pipeline: SwitchHealth["pipeline"];
  entries: number;
  updatesWritten: number;
  writeRpcs: number;
  inSync: boolean;
  lastError?: string;
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 1000) / 1000;

/** The controller of one lab; see the module documentation. */
export class Controller implements AsyncDisposable {
  readonly lab: Lab;
  readonly stateFile?: string;
  readonly #options: ControllerOptions;
  readonly #progress: Progress;
  readonly #sessions: Session[];
  #pipeline?: Pipeline;
  #state?: LbState;
  #queue: Promise<unknown> = Promise.resolve();
  #startedAt?: string;
  #closed = false;

  constructor(lab: Lab, options: ControllerOptions = {}) {
    this.lab = lab;
    this.#options = options;
    this.#progress = options.progress ?? silentProgress;
    this.stateFile = options.stateFile === null
      ? undefined
      : options.stateFile ?? (lab.runDir ? lbStatePath(lab.runDir) : undefined);
    this.#sessions = lab.switches.map((sw) => ({
      sw,
      address: `127.0.0.1:${sw.grpcPort}`,
      pipeline: "none",
      entries: 0,
      updatesWritten: 0,
      writeRpcs: 0,
      inSync: false,
    }));
  }

  /**
   * Loads the pipeline and the state (saved, or the lab's initial one), connects to every switch
   * as primary and programs it. On failure every session opened so far is closed again.
   */
  async start(): Promise<void> {
    if (this.#startedAt || this.#closed) {
      throw new Error("Controller.start() may be called once, before close()");
    }
    try {
      await this.#start();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  async #start(): Promise<void> {
    let done = this.#progress.step("load pipeline and state");
    this.#pipeline = await loadPipeline(this.#options.pipeline ?? defaultPipelinePaths());
    const saved = this.stateFile ? await loadLbState(this.stateFile, this.lab) : undefined;
    this.#state = saved ?? initialLbState(this.lab, { slotCount: this.#options.slotCount });
    const planned = planLabEntries(this.lab, this.#state);
    done(saved ? `state from ${this.stateFile}` : "initial state from the lab");

    done = this.#progress.step(`connect to ${this.#sessions.length} switch(es)`);
    await settleAll(this.#sessions.map((s) => this.#connect(s)));
    done();
    done = this.#progress.step("program switches");
    await settleAll(this.#sessions.map((s) => this.#program(s, planned)));
    done(
      this.#sessions.map((s) => `${s.sw.name}: pipeline ${s.pipeline}, ${s.entries} entries`)
        .join("; "),
    );
    await this.#persist();
    this.#startedAt = new Date().toISOString();
  }

  async #connect(s: Session): Promise<void> {
    if (this.#options.verifySwitchOwner !== false) await this.#verifyOwner(s);
    s.client = await P4RuntimeClient.connect({
      address: s.address,
      deviceId: s.sw.deviceId,
      electionId: this.#options.electionId ?? 1n,
      connectTimeoutMs: this.#options.connectTimeoutMs ?? 20_000,
      rpcTimeoutMs: this.#options.rpcTimeoutMs ?? 10_000,
      p4info: this.#pipeline!.p4info,
      switchLog: this.lab.runDir ? switchFiles(s.sw, this.lab.runDir).output : undefined,
    });
  }

  /** Waits for the switch's port to listen, then checks its owner is this lab's BMv2. */
  async #verifyOwner(s: Session): Promise<void> {
    const deadline = Date.now() + (this.#options.connectTimeoutMs ?? 20_000);
    while (!portInUse(s.sw.grpcPort) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const owners = portOwners(s.sw.grpcPort);
    if (!owners.length) return; // Not listening (yet): connect() reports that with its retries.
    // The lab's switch process (its pid file), or a BMv2 bound to the lab's interfaces (a
    // containerised switch, whose pid file the lab does not write).
    const pidFile = this.lab.runDir ? switchFiles(s.sw, this.lab.runDir).pidFile : undefined;
    const recorded = pidFile
      ? Number.parseInt(await Deno.readTextFile(pidFile).catch(() => ""), 10)
      : NaN;
    if (owners.some((o) => o.pid === recorded)) return;
    if (owners.some((o) => isLabSwitchCmdline(o.cmdline, this.lab.id ?? ""))) return;
    throw new UserError(
      `Switch ${s.sw.name} of lab ${this.lab.name} is not the one listening on ` +
        `127.0.0.1:${s.sw.grpcPort}: that is ${owners.map(describeOwner).join(", ")}`,
      {
        hint:
          `take down whatever holds port ${s.sw.grpcPort}, then \`deno task lab up ${this.lab.name}\``,
      },
    );
  }

  /** Pushes the pipeline unless the switch runs this build, then writes what differs from plan. */
  async #program(s: Session, planned: readonly PlannedEntry[]): Promise<void> {
    const client = s.client!;
    const pipeline = this.#pipeline!;
    let keep = false;
    if (!this.#options.forcePipeline) {
      try {
        const config = await client.getPipeline(PipelineResponseType.COOKIE_ONLY);
        keep = config.cookie === pipeline.cookie;
      } catch (err) {
        // No pipeline yet (FAILED_PRECONDITION, or an error from a switch started --no-p4).
        if (!(err instanceof P4RuntimeError) || err.code === Code.UNAVAILABLE) throw err;
      }
    }
    if (!keep) {
      await client.setPipeline({
        p4infoBinary: pipeline.p4infoBinary,
        bmv2Json: pipeline.bmv2Json,
        cookie: pipeline.cookie,
      });
    }
    s.pipeline = keep ? "kept" : "pushed";
    const actual = keep ? await this.#readRaw(s) : [];
    const diff = diffSwitchEntries(pipeline.p4info, s.sw.name, planned, actual);
    if (diff.updates.length) {
      await client.write(diff.updates, { batchSize: this.#options.batchSize });
      s.updatesWritten += diff.updates.length;
      s.writeRpcs += Math.ceil(diff.updates.length / (this.#options.batchSize ?? 1000));
    }
    s.entries = planned.filter((e) => e.switch === s.sw.name).length;
    s.inSync = true;
  }

  async #readRaw(s: Session): Promise<P4TableEntry[]> {
    const out: P4TableEntry[] = [];
    // BMv2 answers the wildcard read with the egress table's entries twice.
    const seen = new Set<string>();
    // table_id 0 is the wildcard: every entry of every table in one Read.
    for await (const e of this.#client(s).read([{ table_entry: { table_id: 0 } }])) {
      if (!e.table_entry) continue;
      const key = JSON.stringify([e.table_entry.table_id, e.table_entry.match]);
      if (!seen.has(key)) out.push(e.table_entry);
      seen.add(key);
    }
    return out;
  }

  #client(s: Session): P4RuntimeClient {
    if (!s.client || this.#closed) {
      throw new UserError(`The controller is not connected to switch "${s.sw.name}"`, {
        hint: this.#closed ? "the controller was closed" : "start the controller first",
      });
    }
    return s.client;
  }

  #running(): { state: LbState; pipeline: Pipeline } {
    if (!this.#state || !this.#pipeline || !this.#startedAt || this.#closed) {
      throw new UserError(`The controller of lab "${this.lab.name}" is not running`, {
        hint: this.#closed ? "the controller was closed" : "call start() first",
      });
    }
    return { state: this.#state, pipeline: this.#pipeline };
  }

  /** Runs operations one at a time, in call order. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  // ---- queries ---------------------------------------------------------------------------------

  /** The current load-balancer state (a copy). */
  state(): LbState {
    return structuredClone(this.#running().state);
  }

  /** The backends behind the VIP, with their share of slots. */
  listBackends(): BackendList {
    const { state } = this.#running();
    return {
      switch: state.switch,
      vip: state.vip,
      servicePort: state.servicePort,
      slotCount: state.slots.length,
      backends: state.backends.map((b) => backendInfo(state, b)),
    };
  }

  /** Per switch: connected, primary, pipeline, entries written. Never throws. */
  health(): ControllerHealth {
    const state = this.#state;
    const lb = this.lab.loadBalancer;
    const switches = this.#sessions.map((s): SwitchHealth => ({
      name: s.sw.name,
      address: s.address,
      deviceId: s.sw.deviceId,
      connected: !!s.client && !this.#closed,
      primary: !!s.client && !this.#closed && s.client.isPrimary,
      pipeline: s.pipeline,
      entries: s.entries,
      updatesWritten: s.updatesWritten,
      writeRpcs: s.writeRpcs,
      inSync: s.inSync,
      ...(s.lastError ? { lastError: s.lastError } : {}),
    }));
    return {
      lab: this.lab.name,
      ok: !!this.#startedAt && switches.every((s) => s.connected && s.primary && s.inSync),
      ...(this.#startedAt ? { startedAt: this.#startedAt } : {}),
      ...(this.stateFile ? { stateFile: this.stateFile } : {}),
      loadBalancer: {
        switch: state?.switch ?? lb.switch,
        vip: state?.vip ?? lb.vip,
        servicePort: state?.servicePort ?? lb.servicePort,
        backends: state?.backends.length ?? 0,
      },
      switches,
    };
  }

  #sessionsFor(switchName?: string): Session[] {
    if (switchName === undefined) return this.#sessions;
    const s = this.#sessions.find((x) => x.sw.name === switchName);
    if (!s) {
      const names = this.#sessions.map((x) => x.sw.name);
      throw new UserError(`Lab "${this.lab.name}" has no switch "${switchName}"`, {
        hint: nameHint(switchName, names, "switches"),
      });
    }
    return [s];
  }

  /** Entries read back from the switch (or from every switch). */
  async readEntries(switchName?: string): Promise<EntryView[]> {
    const { pipeline } = this.#running();
    const sessions = this.#sessionsFor(switchName);
    const lists = await Promise.all(sessions.map(async (s) => {
      const raw = await this.#readRaw(s);
      return raw.map((e) => viewEntry(pipeline.p4info, s.sw.name, e));
    }));
    return lists.flat();
  }

  /** Entries the plan puts on the switch (or on every switch), formatted as read back. */
  plannedEntries(switchName?: string): EntryView[] {
    const { state, pipeline } = this.#running();
    const names = new Set(this.#sessionsFor(switchName).map((s) => s.sw.name));
    return viewPlanned(
      pipeline.p4info,
      planLabEntries(this.lab, state).filter((e) => names.has(e.switch)),
    );
  }

  /** Reads the switch(es) back and compares with the plan. */
  verify(switchName?: string): Promise<SwitchVerification[]> {
    return this.#serial(async () => {
      const { state, pipeline } = this.#running();
      const planned = planLabEntries(this.lab, state);
      return await Promise.all(
        this.#sessionsFor(switchName).map(async (s) => {
          const diff = diffSwitchEntries(
            pipeline.p4info,
            s.sw.name,
            planned,
            await this.#readRaw(s),
          );
          return {
            switch: s.sw.name,
            inSync: !diff.updates.length,
            missing: diff.missing,
            unexpected: diff.unexpected,
            different: diff.different,
          };
        }),
      );
    });
  }

  /** The load balancer's counters (drops by reason, connection events, per-backend traffic). */
  async counters(): Promise<LbCounters> {
    const { state } = this.#running();
    const client = this.#client(this.#sessionsFor(state.switch)[0]);
    const [drops, events, perBackend] = await Promise.all([
      client.readCounter(COUNTERS.drops),
      client.readCounter(COUNTERS.flowEvents),
      Promise.all(state.backends.map((b) => client.readCounter(COUNTERS.backendPackets, b.id))),
    ]);
    const byIndex = <K extends string>(names: Record<K, number>, cells: typeof drops) =>
      Object.fromEntries(
        Object.entries(names).map(([k, i]) => [
          k,
          Number(cells.find((c) => c.index === i)?.packets ?? 0n),
        ]),
      ) as Record<K, number>;
    return {
      switch: state.switch,
      drops: byIndex(DROP_REASONS, drops),
      flowEvents: byIndex(FLOW_EVENTS, events),
      backends: state.backends.map((b, i) => ({
        id: b.id,
        host: b.host,
        packets: Number(perBackend[i][0]?.packets ?? 0n),
        bytes: Number(perBackend[i][0]?.bytes ?? 0n),
      })),
    };
  }

  // ---- changes ---------------------------------------------------------------------------------

  #host(name: string, role: string): Host {
    const host = typeof name === "string" ? this.lab.hosts.find((h) => h.name === name) : undefined;
    if (!host) {
      throw new UserError(`Lab "${this.lab.name}" has no host ${JSON.stringify(name)} ${role}`, {
        hint: nameHint(String(name), this.lab.hosts.map((h) => h.name), "hosts"),
      });
    }
    return host;
  }

  #backend(state: LbState, ref: string | number): Backend {
    const byHost = state.backends.find((b) => b.host === ref);
    const id = typeof ref === "number" ? ref : /^\d+$/.test(ref) ? Number(ref) : undefined;
    const found = byHost ?? state.backends.find((b) => b.id === id);
    if (!found) {
      const known = state.backends.map((b) => `${b.host} (id ${b.id})`);
      throw new UserError(`No backend ${JSON.stringify(ref)} in lab "${this.lab.name}"`, {
        hint: known.length
          ? `backends are named by host or id: ${known.join(", ")}`
          : "there are no backends; add one first",
      });
    }
    return found;
  }

  #notABackend(state: LbState, host: Host, what: string): void {
    const there = state.backends.find((b) => b.host === host.name);
    if (there) {
      throw new UserError(`Host "${host.name}" already serves backend ${there.id}`, {
        hint: `${what} to a host without a backend (free hosts: ${
          this.lab.hosts.filter((h) => !state.backends.some((b) => b.host === h.name))
            .map((h) => h.name).join(", ") || "none"
        })`,
      });
    }
  }

  /** Adds a backend on `host`: it gets the lowest free id and an even share of the slots. */
  addBackend(host: string): Promise<ChangeResult> {
    return this.#serial(async () => {
      const t0 = performance.now();
      const { state } = this.#running();
      const h = this.#host(host, "to add as a backend");
      this.#notABackend(state, h, "add the backend");
      const change = planAddBackend(state, h);
      const writeMs = await this.#apply(state, change);
      const added = change.state.backends.find((b) => b.host === h.name)!;
      return result("add", change, added, writeMs, t0);
    });
  }

  /** Removes a backend (by host name or id); its slots go to the others. */
  removeBackend(ref: string | number): Promise<ChangeResult> {
    return this.#serial(async () => {
      const t0 = performance.now();
      const { state } = this.#running();
      const gone = this.#backend(state, ref);
      const info = backendInfo(state, gone);
      const change = planRemoveBackend(state, gone.id);
      const writeMs = await this.#apply(state, change);
      return { ...result("remove", change, gone, writeMs, t0), backend: info };
    });
  }

  /**
   * Points a backend (by host name or id) at another host. Its id, slots and remembered
   * connections stay, so exactly its connections follow it. One Write RPC.
   */
  migrateBackend(ref: string | number, toHost: string): Promise<ChangeResult> {
    return this.#serial(async () => {
      const t0 = performance.now();
      const { state } = this.#running();
      const moving = this.#backend(state, ref);
      const target = this.#host(toHost, "to migrate to");
      if (target.name === moving.host) {
        throw new UserError(`Backend ${moving.id} already runs on "${target.name}"`, {
          hint: "migrate it to another host",
        });
      }
      this.#notABackend(state, target, "migrate");
      const change = planMigrateBackend(state, moving.id, target);
      const writeMs = await this.#apply(state, change);
      const moved = change.state.backends.find((b) => b.id === moving.id)!;
      return {
        ...result("migrate", change, moved, writeMs, t0),
        from: { host: moving.host, ip: moving.ip },
      };
    });
  }

  /**
   * Writes a planned change (one Write RPC per switch it touches, in parallel), then adopts and
   * saves its state. Everything is encoded before anything is written, so bad values change
   * nothing; a rejected write is undone as far as it was applied.
   */
  async #apply(before: LbState, change: PlannedChange): Promise<number> {
    const { pipeline } = this.#running();
    const groups = new Map<Session, EntryUpdate[]>();
    for (const u of change.updates) {
      const s = this.#sessionsFor(u.entry.switch)[0];
      if (!groups.has(s)) groups.set(s, []);
      groups.get(s)!.push(u);
    }
    const writes = [...groups].map(([s, updates]) => ({
      s,
      updates,
      encoded: encodeUpdates(pipeline.p4info, updates),
      client: this.#client(s),
    }));
    const t0 = performance.now();
    const pending = writes.map((w) =>
      w.client.write(w.encoded, { batchSize: this.#options.batchSize })
    );
    // Save the new state while the switch applies it (hides the file write behind the RPC);
    // if the switch refuses, the old state is saved again below.
    const saving = this.#persist(change.state).then(() => undefined, (err: unknown) => err);
    const outcomes = await Promise.allSettled(pending);
    const writeMs = ms(t0);
    const saveError = await saving;
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    writes.forEach((w, i) => {
      w.s.writeRpcs++;
      if (outcomes[i].status === "fulfilled") {
        w.s.updatesWritten += w.updates.length;
        w.s.entries += w.updates.filter((u) => u.type === "INSERT").length -
          w.updates.filter((u) => u.type === "DELETE").length;
      }
    });
    if (failed) {
      await this.#undo(before, writes, outcomes);
      await this.#persist(before);
      throw this.#changeError(failed.reason, writes, outcomes);
    }
    this.#state = change.state;
    if (saveError) {
      throw new Error(
        `The switches were changed, but saving the state to ${this.stateFile} failed: ${
          describe(saveError)
        }`,
        { cause: saveError },
      );
    }
    return writeMs;
  }

  /** Undoes what a partly failed change applied; a switch we cannot restore is out of sync. */
  async #undo(
    before: LbState,
    writes: { s: Session; updates: EntryUpdate[]; client: P4RuntimeClient }[],
    outcomes: PromiseSettledResult<void>[],
  ): Promise<void> {
    const beforeEntries = planLbEntries(before);
    await Promise.all(writes.map(async (w, i) => {
      const o = outcomes[i];
      let applied: EntryUpdate[];
      if (o.status === "fulfilled") applied = w.updates;
      else if (o.reason instanceof P4RuntimeWriteError) {
        const bad = new Set(o.reason.failures.map((f) => f.index));
        applied = w.updates.filter((_, j) => !bad.has(j));
      } else {
        // Unknown how much the switch applied (e.g. it went away mid-write).
        w.s.inSync = false;
        w.s.lastError = describe(o.reason);
        return;
      }
      if (o.status === "rejected") w.s.lastError = describe(o.reason);
      if (!applied.length) return;
      try {
        const undo: Update[] = encodeUpdates(
          this.#pipeline!.p4info,
          inverseUpdates(applied, beforeEntries),
        );
        await w.client.write(undo);
        w.s.writeRpcs++;
        w.s.updatesWritten += undo.length;
      } catch (err) {
        w.s.inSync = false;
        w.s.lastError = `undo failed: ${describe(err)}`;
      }
    }));
  }

  #changeError(
    reason: unknown,
    writes: { s: Session }[],
    outcomes: PromiseSettledResult<void>[],
  ): Error {
    const where = writes.filter((_, i) => outcomes[i].status === "rejected").map((w) => w.s);
    const lost = this.#sessions.filter((s) => !s.inSync).map((s) => s.sw.name);
    const message = `Switch ${where.map((s) => `"${s.sw.name}"`).join(", ")} rejected the change: ${
      describe(reason)
    }`;
    const hint = lost.length
      ? `switch ${lost.join(", ")} may now differ from the controller's state; restart the ` +
        "controller to reconcile it"
      : "nothing was changed (what the switch had applied was undone)";
    const code = reason instanceof P4RuntimeError ? reason.code : Code.UNKNOWN;
    return new P4RuntimeError(message, code, { hint, cause: reason });
  }

  async #persist(state = this.#state): Promise<void> {
    if (this.stateFile && state) await saveLbState(this.stateFile, this.lab, state);
  }

  /** Ends every switch session (the switches keep their entries). Safe to call twice. */
  close(): void {
    this.#closed = true;
    for (const s of this.#sessions) s.client?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

function backendInfo(state: LbState, b: Backend): BackendInfo {
  return {
    id: b.id,
    host: b.host,
    ip: b.ip,
    slots: state.slots.filter((id) => id === b.id).length,
  };
}

function result(
  action: ChangeResult["action"],
  change: PlannedChange,
  backend: Backend,
  writeMs: number,
  t0: number,
): ChangeResult {
  return {
    action,
    backend: backendInfo(change.state, backend),
    updates: change.updates.length,
    writeMs,
    totalMs: ms(t0),
  };
}

/** `did you mean "h1"? hosts of the lab: h1, h2` (the guess only when one is close). */
function nameHint(word: string, names: readonly string[], what: string): string {
  const near = closest(word, names);
  return `${near ? `did you mean "${near}"? ` : ""}${what} of the lab: ${names.join(", ")}`;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Awaits every promise; throws the first failure after all have settled. */
async function settleAll(promises: Promise<unknown>[]): Promise<void> {
  const outcomes = await Promise.allSettled(promises);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
}
