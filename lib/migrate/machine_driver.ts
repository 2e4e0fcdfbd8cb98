/**
 * The {@link MigrationDriver} for a process moving between machines: nothing is shared on disk,
 * every byte of the checkpoint crosses the underlay (lib/machines/transfer.ts).
 *
 * ```
 * source machine                                  target machine
 * <run>/machines/<src>/migrations/<id>/images/    <run>/machines/<dst>/migrations/<id>/images/
 *   criu dump (in the host's netns) ── memory ──>   criu page-server      (stop-and-copy)
 *                                   <── faults ──   criu lazy-pages       (post-copy, --lazy)
 *   tar of the other images ─────── TCP ───────>   image_receiver.ts
 *                                                   rewrite, criu restore (in the host's netns)
 * ```
 *
 * Stop-and-copy: the server is frozen from the dump until it is restored, and its whole memory
 * goes to the target's page server meanwhile. Post-copy: the dump writes everything but the
 * memory, the target restores the server at once and a lazy-pages daemon fetches the pages it
 * touches (userfaultfd) while pushing the rest in the background; {@link finishPostCopy} waits for
 * the last page. If the source machine dies before then, the server cannot run on (its memory is
 * incomplete): it is stopped and the error says so — post-copy's known price.
 *
 * @module
 */
import { criuBinary } from "../capabilities.ts";
import {
  CriuError,
  criuLogErrors,
  criuRestore,
  releaseSourceLock,
  restoreOnSource,
  type RestoreResult,
} from "../criu/checkpoint.ts";
import { dumpArgv } from "../criu/commands.ts";
import { readDumpInfo } from "../criu/dump_info.ts";
import { rewriteDumpAddresses } from "../criu/rewrite.ts";
import { readDumpStats } from "../criu/stats.ts";
import { tcpStateName } from "../criu/sockets.ts";
import { MissingCapabilityError, UserError } from "../errors.ts";
import { ensurePrivateDir } from "../lab/paths.ts";
import type { Machine } from "../lab/types.ts";
import { parseProcTcp } from "../net/proc_tcp.ts";
import { RECEIVED_FILE, type ReceivedSummary } from "../machines/image_receiver.ts";
import { buildSocketExec } from "../machines/socket_exec.ts";
import {
  dumpThroughUnderlayArgv,
  LAZY_PAGES_LOG,
  lazyPagesArgv,
  PAGE_SERVER_PORT,
  pageServerArgv,
  receiverArgv,
  senderArgv,
  type TransferEnd,
} from "../machines/transfer.ts";
import { defaultShell, pidAlive, type Shell, signalProcess, spawnDetached } from "../shell.ts";
import { killPids } from "../topology/teardown.ts";
import { processAndDescendants } from "../machines/pid_namespace.ts";
import { ensureCriuPipeSize } from "../machines/pipe_size.ts";
import type { MigrationDriver } from "./run.ts";

/** How the memory moves. */
export type TransferMode = "stop-and-copy" | "lazy";

export interface MachineDriverOptions {
  shell?: Shell;
  /** criu binary (default: $CRIU or criu on PATH). */
  criu?: string;
  mode: TransferMode;
  /** The hosts' namespaces (CRIU dumps and restores inside them). */
  sourceNetns: string;
  targetNetns: string;
  /** The machines the hosts are on. */
  sourceMachine: Pick<Machine, "name" | "netns" | "underlayIp">;
  targetMachine: Pick<Machine, "name" | "netns" | "underlayIp">;
  pid: number;
  fromIp: string;
  toIp: string;
  /** This migration's directory on each machine (see lib/machines/plan.ts machineMigrationDir). */
  sourceDir: string;
  targetDir: string;
  /** Bound of each step (default 120 s: a GB at 100 Mbit/s takes 90). */
  timeoutMs?: number;
  /** Restore stopped, resume after the switch update (as the process driver). */
  resumeAfterSwitch?: boolean;
  /** SIGSTOP the server before CRIU starts (as the process driver). */
  stopBeforeDump?: boolean;
  /** Post-copy: give up when the lazy-pages daemon made no progress for this long (10 s). */
  stallMs?: number;
  /** The lab's run directory: records of what a migration changes on the machine go there. */
  labRunDir: string;
}

/** What post-copy did, once every page has arrived (or not). */
export interface PostCopyResult {
  ok: boolean;
  /** From the start of the restore until the last page arrived, ms. */
  allPagesMs: number;
  /** Pages the restored server touched before they had arrived (each a userfaultfd fault). */
  pagesFaulted: number;
  /** Pages the lazy-pages daemon placed, and how many it expected. */
  pagesTransferred: number;
  pagesTotal: number;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The directories and files of a cross-machine migration (pure). */
export function planMachineMigration(o: MachineDriverOptions) {
  const src = o.sourceDir.replace(/\/+$/, "");
  const dst = o.targetDir.replace(/\/+$/, "");
  return {
    source: { machine: o.sourceMachine, dir: `${src}/images` } as TransferEnd,
    target: { machine: o.targetMachine, dir: `${dst}/images` } as TransferEnd,
    /** Files of the helpers on each side (logs, pids, exit codes): beside the images. */
    side: (end: "source" | "target", name: string) => `${end === "source" ? src : dst}/${name}`,
    /** Written by CRIU's post-dump action (post-copy): the images are complete. */
    dumpDone: `${src}/dump.done`,
    /** Written once the images are on the target: the lazy-pages daemon may start. */
    lazyStart: `${dst}/lazy.start`,
  };
}

/** The CRIU action script marking the end of a post-copy dump's image writing. */
export function postDumpScript(doneFile: string): string {
  return `#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] && : > '${doneFile}'\nexit 0\n`;
}

/**
 * Counts the faults and the pages of a `criu lazy-pages -v4` log: the daemon's final tally when
 * it finished, else what its copies so far add up to (a post-copy cut short).
 */
export function parseLazyPagesLog(log: string): {
  faults: number;
  transferred: number;
  total: number;
} {
  const faults = (log.match(/#PF at 0x/g) ?? []).length;
  let transferred = 0;
  let total = 0;
  for (const m of log.matchAll(/UFFD transferred pages: \((\d+)\/(\d+)\)/g)) {
    transferred += Number(m[1]);
    total += Number(m[2]);
  }
  if (total > 0) return { faults, transferred, total };
  for (const m of log.matchAll(/Found (\d+) pages to be handled by UFFD/g)) total += Number(m[1]);
  let bytes = 0;
  for (const m of log.matchAll(/uffd_copy: 0x[0-9a-f]+\/(\d+)/g)) bytes += Number(m[1]);
  return { faults, transferred: Math.floor(bytes / 4096), total };
}

/** A detached process the driver started, with its files. */
interface Started {
  pid: number;
  exitFile: string;
  logFile: string;
}

function exitCodeOf(p: Started): number | undefined {
  try {
    const text = Deno.readTextFileSync(p.exitFile);
    return text.endsWith("\n") ? Number.parseInt(text, 10) : undefined;
  } catch {
    return undefined;
  }
}

/** Migrates one CRIU process between two machines. */
export class MachineDriver implements MigrationDriver {
  readonly plan: ReturnType<typeof planMachineMigration>;
  /** Where the process runs now. */
  location: "source" | "target" = "source";
  restored?: RestoreResult;
  /** Memory stats of the dump (pages it wrote or left lazy). */
  pagesDumped?: number;
  private currentPid: number;
  private stoppedPids: number[] = [];
  private helper = "";
  private receiver?: Started;
  private pageServer?: Started;
  private lazyPages?: Started;
  private lazyDump?: Started;
  private restoreStartedAt = 0;
  private undoPipeSize?: () => Promise<void>;

  constructor(readonly options: MachineDriverOptions) {
    this.plan = planMachineMigration(options);
    this.currentPid = options.pid;
  }

  get pid(): number {
    return this.currentPid;
  }

  private get shell(): Shell {
    return this.options.shell ?? defaultShell;
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? 120_000;
  }

  private get criu(): string {
    const bin = this.options.criu ?? criuBinary();
    if (!bin) {
      throw new MissingCapabilityError("CRIU is not installed", {
        hint: "run `bash lab/provision.sh` as root, or set CRIU to the criu binary",
      });
    }
    return bin;
  }

  private async start(end: "source" | "target", name: string, argv: string[]): Promise<Started> {
    const started = {
      logFile: this.plan.side(end, `${name}.out`),
      exitFile: this.plan.side(end, `${name}.exit`),
      pid: 0,
    };
    started.pid = await spawnDetached(this.shell, argv, {
      logFile: started.logFile,
      pidFile: this.plan.side(end, `${name}.pid`),
      exitFile: started.exitFile,
      startTimeoutMs: 10_000,
    });
    return started;
  }

  /** Waits for `ready()`, failing with the process's output when it exits first. */
  private async waitFor(p: Started, what: string, ready: () => Promise<boolean> | boolean) {
    const deadline = Date.now() + 30_000;
    while (!await ready()) {
      if (!pidAlive(p.pid) || Date.now() > deadline) {
        const out = await Deno.readTextFile(p.logFile).catch(() => "");
        throw new Error(
          `${what} ${pidAlive(p.pid) ? "did not get ready in 30 s" : "exited"}: ${
            out.trim().split("\n").slice(-3).join(" / ") || "no output"
          }`,
        );
      }
      await sleep(2);
    }
  }

  private static listening(pid: number, ip: string, port: number): boolean {
    try {
      return parseProcTcp(Deno.readTextFileSync(`/proc/${pid}/net/tcp`)).some((s) =>
        s.state === "LISTEN" && s.localPort === port && s.localIp === ip
      );
    } catch {
      return false;
    }
  }

  /** Starts the target's receivers before anything is frozen (Deno alone takes ~0.3 s). */
  async prepare(): Promise<string> {
    const { source, target } = this.plan;
    for (const end of [source, target]) {
      await ensurePrivateDir(end.dir.replace(/\/images$/, ""));
      await Deno.remove(end.dir, { recursive: true }).catch(() => {});
      await ensurePrivateDir(end.dir);
    }
    this.helper = await buildSocketExec(this.shell);
    this.receiver = await this.startReceiver(source, target);
    const ip = target.machine.underlayIp;
    if (this.options.mode === "stop-and-copy") {
      this.pageServer = await this.start(
        "target",
        "page-server",
        pageServerArgv(this.criu, target),
      );
      const ps = this.pageServer;
      await this.waitFor(
        ps,
        "criu page-server",
        () => MachineDriver.listening(ps.pid, ip, PAGE_SERVER_PORT),
      );
      return `receiver and page server listen on ${target.machine.name} ${ip}`;
    }
    this.lazyPages = await this.start(
      "target",
      "lazy-pages",
      lazyPagesArgv(this.criu, this.helper, target, this.plan.lazyStart, this.timeoutMs),
    );
    const lp = this.lazyPages;
    await this.waitFor(
      lp,
      "lazy-pages listener",
      async () => (await Deno.readTextFile(lp.logFile).catch(() => "")).includes("listening"),
    );
    const pipes = await ensureCriuPipeSize(this.options.labRunDir);
    this.undoPipeSize = pipes.undo;
    return `receiver and lazy-pages listener on ${target.machine.name} ${ip}` +
      (pipes.note ? `; ${pipes.note}` : "");
  }

  private async startReceiver(from: TransferEnd, to: TransferEnd): Promise<Started> {
    await Deno.remove(`${to.dir}/${RECEIVED_FILE}`).catch(() => {});
    const end = to === this.plan.target ? "target" : "source";
    const r = await this.start(
      end,
      "receiver",
      receiverArgv(Deno.execPath(), to, from, this.timeoutMs),
    );
    await this.waitFor(
      r,
      "image receiver",
      async () => (await Deno.readTextFile(r.logFile).catch(() => "")).includes("listening"),
    );
    return r;
  }

  async dump(): Promise<string> {
    const stopped = this.options.stopBeforeDump === true &&
      signalProcess(this.currentPid, "SIGSTOP");
    try {
      if (this.options.mode === "lazy") await this.lazyDumpUntilImages();
      else await this.stopAndCopyDump();
    } catch (err) {
      if (stopped) signalProcess(this.currentPid, "SIGCONT");
      await this.stopHelpers();
      throw err;
    }
    const info = await readDumpInfo(this.plan.source.dir).catch(() => undefined);
    const established = info?.sockets.filter((s) => tcpStateName(s.state) === "ESTABLISHED")
      .length ?? 0;
    // The pid here: the dump's own are its pid namespace's.
    const note = `pid ${this.options.pid}, ${established} connection(s)`;
    if (this.options.mode === "lazy") {
      return `${note}, memory stays on ${this.plan.source.machine.name} until pulled`;
    }
    const stats = await readDumpStats(this.plan.source.dir).catch(() => undefined);
    this.pagesDumped = stats?.pagesWritten;
    return stats
      ? `${note}, ${stats.pagesWritten} pages to ${this.plan.target.machine.name}'s page server, frozen ${
        stats.frozenMs.toFixed(0)
      } ms by CRIU`
      : note;
  }

  private dumpArgv(lazy: boolean, actionScript?: string): string[] {
    const { source, target } = this.plan;
    const inner = dumpArgv({
      criu: this.criu,
      netns: this.options.sourceNetns,
      pid: this.currentPid,
      imagesDir: source.dir,
      tcpEstablished: true,
      psSocket: 3,
      lazyPages: lazy,
      actionScript,
    });
    return dumpThroughUnderlayArgv(this.helper, source, target, inner, this.timeoutMs);
  }

  private async stopAndCopyDump(): Promise<void> {
    const argv = this.dumpArgv(false);
    const r = await this.shell.run(argv, { check: false, timeoutMs: this.timeoutMs });
    if (r.code !== 0) throw await this.dumpError(r.code, r.stderr || r.stdout);
  }

  private async dumpError(code: number, output: string): Promise<CriuError> {
    const logPath = `${this.plan.source.dir}/dump.log`;
    const log = await Deno.readTextFile(logPath).catch(() => "");
    return new CriuError("dump", logPath, code, criuLogErrors(log), output);
  }

  /** Starts the post-copy dump; returns once its images are written (it then serves memory). */
  private async lazyDumpUntilImages(): Promise<void> {
    const script = this.plan.side("source", "post-dump.sh");
    await Deno.remove(this.plan.dumpDone).catch(() => {});
    await Deno.writeTextFile(script, postDumpScript(this.plan.dumpDone), { mode: 0o700 });
    const dump = await this.start("source", "lazy-dump", this.dumpArgv(true, script));
    this.lazyDump = dump;
    const deadline = Date.now() + this.timeoutMs;
    const done = () => Deno.stat(this.plan.dumpDone).then(() => true, () => false);
    while (!await done()) {
      if (!pidAlive(dump.pid)) {
        if (await done()) break;
        await sleep(5);
        const out = await Deno.readTextFile(dump.logFile).catch(() => "");
        throw await this.dumpError(exitCodeOf(dump) ?? -1, out);
      }
      if (Date.now() > deadline) {
        throw await this.dumpError(
          124,
          `criu dump --lazy-pages: no images in ${this.timeoutMs} ms`,
        );
      }
      await sleep(1);
    }
  }

  /** Image files (everything but memory) to the target, over the underlay. */
  async transfer(): Promise<string> {
    const { source, target } = this.plan;
    // The images only: a post-copy dump goes on writing its log while it serves the memory.
    const images: string[] = [];
    for await (const e of Deno.readDir(source.dir)) {
      if (e.isFile && e.name.endsWith(".img")) images.push(e.name);
    }
    const summary = await this.sendImages(source, target, this.receiver!, images.sort());
    this.receiver = undefined;
    let memory = "";
    if (this.pageServer) {
      const ps = this.pageServer;
      const deadline = Date.now() + 10_000;
      while (exitCodeOf(ps) === undefined && Date.now() < deadline) await sleep(2);
      const code = exitCodeOf(ps);
      if (code !== 0) {
        throw new Error(
          `criu page-server on ${target.machine.name} ${
            code === undefined ? "did not finish" : `exited ${code}`
          }; see ${target.dir}/page-server.log`,
        );
      }
      this.pageServer = undefined;
      memory = `; memory through the page server`;
    } else if (this.lazyPages) {
      // The daemon reads the images now, while the addresses are rewritten.
      await Deno.writeTextFile(this.plan.lazyStart, "");
      memory = "; memory on demand (lazy-pages daemon started)";
    }
    return `${summary.files} files, ${(summary.bytes / 1024).toFixed(0)} KiB in ${
      summary.ms.toFixed(0)
    } ms${memory}`;
  }

  private async sendImages(
    from: TransferEnd,
    to: TransferEnd,
    receiver: Started,
    only?: string[],
  ): Promise<ReceivedSummary> {
    const r = await this.shell.run(senderArgv(this.helper, from, to, this.timeoutMs, only), {
      check: false,
      timeoutMs: this.timeoutMs,
    });
    if (r.code !== 0) {
      throw new Error(`sending the images to ${to.machine.name} failed: ${r.stderr.trim()}`);
    }
    const path = `${to.dir}/${RECEIVED_FILE}`;
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const text = await Deno.readTextFile(path).catch(() => "");
      if (text) return JSON.parse(text) as ReceivedSummary;
      if (exitCodeOf(receiver) !== undefined || Date.now() > deadline) {
        // It writes its summary before it exits: read once more before calling it failed.
        const last = await Deno.readTextFile(path).catch(() => "");
        if (last) return JSON.parse(last) as ReceivedSummary;
        const out = await Deno.readTextFile(receiver.logFile).catch(() => "");
        throw new Error(`the image receiver on ${to.machine.name} failed: ${out.trim()}`);
      }
      await sleep(1);
    }
  }

  async rewrite(): Promise<string> {
    const { changed } = await rewriteDumpAddresses(this.plan.target.dir, {
      from: this.options.fromIp,
      to: this.options.toIp,
    });
    return `${changed.length} socket${changed.length === 1 ? "" : "s"}`;
  }

  async restore(): Promise<string> {
    const dir = this.plan.target.dir;
    const lazy = this.options.mode === "lazy";
    if (lazy) {
      // `criu restore --lazy-pages` connects to the daemon's socket in the images directory.
      const lp = this.lazyPages!;
      await this.waitFor(
        lp,
        "criu lazy-pages",
        () => Deno.stat(`${dir}/lazy-pages.socket`).then(() => true, () => false),
      );
    }
    const leaveStopped = this.options.resumeAfterSwitch ?? false;
    this.restoreStartedAt = performance.now();
    const result = await criuRestore({
      shell: this.options.shell,
      criu: this.options.criu,
      timeoutMs: this.timeoutMs,
      netns: this.options.targetNetns,
      imagesDir: dir,
      logFile: "restore.log",
      pidFile: `${dir}/restored.pid`,
      leaveStopped,
      lazyPages: lazy,
      ownPidNamespace: true,
    });
    this.restored = result;
    this.currentPid = result.pid;
    this.location = "target";
    // The dump's pids are its namespace's: the restored tree's pids here are read from /proc.
    this.stoppedPids = leaveStopped ? processAndDescendants(result.pid) : [];
    if (!leaveStopped && this.options.stopBeforeDump) signalProcess(result.pid, "SIGCONT");
    const note = `pid ${result.pid} on ${this.plan.target.machine.name}`;
    return leaveStopped ? `${note}, stopped until the switch is updated` : note;
  }

  resume(): boolean {
    const pids = this.stoppedPids;
    this.stoppedPids = [];
    for (const pid of pids) signalProcess(pid, "SIGCONT");
    return pids.length > 0;
  }

  /**
   * Rollback. Stop-and-copy: the memory went to the target's page server, so it comes back the
   * same way before the server is restored on the source. Post-copy cannot roll back: the dump
   * holds the memory only to serve it to the target.
   */
  async restoreOnSource(): Promise<string> {
    const { source, target } = this.plan;
    if (this.options.mode === "lazy") {
      await this.stopHelpers();
      // What the dump leaves of the source (its connections in repair mode) serves no one.
      await killPids(this.shell, [this.options.pid]);
      throw new UserError(
        "post-copy cannot roll back: the source served its memory only to the target, and the " +
          "server is lost",
        {
          hint: "restart the lab (`deno task lab down`, then `up`); stop-and-copy keeps a rollback",
        },
      );
    }
    await this.stopHelpers();
    const pages: string[] = [];
    for await (const e of Deno.readDir(target.dir)) {
      if (/^(pagemap|pages)-.*\.img$/.test(e.name)) pages.push(e.name);
    }
    const receiver = await this.startReceiver(target, source);
    await this.sendImages(target, source, receiver, pages);
    const result = await restoreOnSource({
      shell: this.options.shell,
      criu: this.options.criu,
      timeoutMs: this.timeoutMs,
      netns: this.options.sourceNetns,
      imagesDir: source.dir,
      pidFile: `${source.dir}/restored.pid`,
      ownPidNamespace: true,
    });
    this.restored = result;
    this.currentPid = result.pid;
    this.location = "source";
    if (this.options.stopBeforeDump) signalProcess(result.pid, "SIGCONT");
    return `pid ${result.pid}, memory back from ${target.machine.name} (${pages.length} files)`;
  }

  async cleanupSource(): Promise<string> {
    const resumed = this.resume();
    const removed = await releaseSourceLock({
      shell: this.options.shell,
      netns: this.options.sourceNetns,
      imagesDir: this.plan.source.dir,
    });
    const note = removed.length ? `removed ${removed.join(", ")}` : "no lock left";
    return resumed ? `resumed pid ${this.pid}; ${note}` : note;
  }

  /**
   * Post-copy: waits until every page has arrived (the lazy-pages daemon and the source's dump
   * both end). A daemon that fails, or makes no progress for `stallMs` (a source machine gone
   * without a word), ends it: the restored server, whose memory is incomplete, is stopped.
   */
  async finishPostCopy(): Promise<PostCopyResult | undefined> {
    const lp = this.lazyPages;
    if (this.options.mode !== "lazy" || !lp) return undefined;
    const logPath = `${this.plan.target.dir}/${LAZY_PAGES_LOG}`;
    const stallMs = this.options.stallMs ?? 10_000;
    let lastSize = -1;
    let lastChange = Date.now();
    let error: string | undefined;
    while (exitCodeOf(lp) === undefined) {
      const size = await Deno.stat(logPath).then((s) => s.size, () => 0);
      if (size !== lastSize) {
        lastSize = size;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > stallMs) {
        error = `no page arrived from ${this.plan.source.machine.name} for ${stallMs / 1000} s ` +
          "(is the source machine gone?)";
        break;
      }
      if (!pidAlive(lp.pid) && exitCodeOf(lp) === undefined) await sleep(10);
      await sleep(5);
    }
    const allPagesMs = performance.now() - this.restoreStartedAt;
    const code = exitCodeOf(lp);
    const log = await Deno.readTextFile(logPath).catch(() => "");
    const tally = parseLazyPagesLog(log);
    if (!error && code !== 0) {
      const why = criuLogErrors(log, 3).join(" / ");
      error = `criu lazy-pages exited ${code}${why ? `: ${why}` : ""}`;
    }
    if (error) {
      // Pages that never came would read as zeros: the server must not run on.
      await killPids(this.shell, [
        this.currentPid,
        lp.pid,
        ...(this.lazyDump ? [this.lazyDump.pid] : []),
      ]);
      return {
        ok: false,
        allPagesMs,
        pagesFaulted: tally.faults,
        pagesTransferred: tally.transferred,
        pagesTotal: tally.total,
        error:
          `post-copy failed after ${tally.transferred} of ${
            tally.total || "?"
          } pages: ${error}; the server on ${this.plan.target.machine.name} was stopped, as its ` +
          "memory is incomplete",
      };
    }
    // The dump ends once the daemon said it has everything.
    const dump = this.lazyDump;
    const deadline = Date.now() + 10_000;
    while (dump && exitCodeOf(dump) === undefined && Date.now() < deadline) await sleep(5);
    const stats = await readDumpStats(this.plan.source.dir).catch(() => undefined);
    this.pagesDumped = stats?.pagesWritten;
    return {
      ok: true,
      allPagesMs,
      pagesFaulted: tally.faults,
      pagesTransferred: tally.transferred,
      pagesTotal: tally.total,
    };
  }

  /** Stops whatever of ours still runs on either machine (receivers, page servers, dump). */
  async stopHelpers(): Promise<void> {
    const live = [this.receiver, this.pageServer, this.lazyPages, this.lazyDump]
      .filter((p): p is Started => p !== undefined && pidAlive(p.pid))
      .map((p) => p.pid);
    await killPids(this.shell, live);
    this.receiver = undefined;
    this.pageServer = undefined;
    this.lazyPages = undefined;
    this.lazyDump = undefined;
    await this.undoPipeSize?.();
    this.undoPipeSize = undefined;
  }
}
