/**
 * A {@link MigrationDriver} for a Podman container in a lab pod: checkpoint with its established
 * TCP connections into an uncompressed archive, rewrite the socket addresses inside the archive
 * (no unpacking), and restore it into the target pod, whose network namespace has the new
 * address.
 *
 * Files in the checkpoint directory: `checkpoint.tar` (Podman's export, never modified: the
 * rollback restores from it) and `target.tar` (the transferred, rewritten copy).
 *
 * The copy's `config.dump` carries a new container id and a temporary name
 * (lib/podman/checkpoint.ts, `renameConfigDump`), so Podman imports it beside the stopped source
 * container: removing that one (~50-500 ms of Podman) and giving the restored container its name
 * back happen after the switch has moved ({@link ContainerDriver.resume} starts it,
 * {@link ContainerDriver.cleanupSource} waits for it), outside the frozen window.
 *
 * With the container's CRIU configuration file (`criuConfig`, see lib/podman/criu_config.ts) the
 * dump freezes fast and locks with nftables, and the restored server stays stopped until
 * {@link ContainerDriver.resume}, which runMigration calls right after the switch update.
 *
 * @module
 */
import { rewriteArchiveAddresses } from "../criu/archive.ts";
import { releaseSourceLock } from "../criu/checkpoint.ts";
import { ensureKerndatCache } from "../criu/kerndat_cache.ts";
import { CommandError } from "../errors.ts";
import {
  checkpointArgv,
  CONFIG_DUMP,
  newContainerId,
  removeArgv,
  renameConfigDump,
  restoreArgv,
  restoredName,
} from "../podman/checkpoint.ts";
import { hookArgv, restoredPidPath, THAW_ACTION, writeCriuConfig } from "../podman/criu_config.ts";
import { editTarMember, listTar } from "../podman/tar.ts";
import { defaultShell, processStat, type RunResult, type Shell, signalProcess } from "../shell.ts";
import { archiveFileComplete } from "./recovery_probes.ts";
import type { MigrationDriver } from "./run.ts";

export interface ContainerDriverOptions {
  shell?: Shell;
  container: string;
  sourcePod: string;
  targetPod: string;
  /** Named network namespaces of the two pods (where CRIU's lock rules end up). */
  sourceNetns: string;
  /**
   * The target pod's named namespace: a restore failing there leaves CRIU's lock behind, which
   * the rollback removes. Without it, a rolled-back migration leaves that pod without network.
   */
  targetNetns?: string;
  fromIp: string;
  toIp: string;
  /** Directory for the archives (kept after the migration for inspection). */
  checkpointDir: string;
  /**
   * The CRIU configuration file named by the container's `org.criu.config` annotation; absent
   * for containers started without one (Podman's and CRIU's defaults then apply).
   */
  criuConfig?: string;
}

export class ContainerDriver implements MigrationDriver {
  readonly #o: ContainerDriverOptions;
  readonly #shell: Shell;
  /** Pid of the restored server while it waits stopped for {@link resume}. */
  #stoppedPid?: number;
  /** Pod ids by name, looked up before the freeze. */
  readonly #podIds = new Map<string, string>();
  /** Removing the source and renaming the restored container, once started by resume(). */
  #renaming?: Promise<string>;
  /** Podman's import still finishing after CRIU restored the server (see restore()). */
  #importing?: Promise<void>;
  /** Podman's checkpoint still finishing after its export was whole (see dump()). */
  #checkpointing?: Promise<void>;

  constructor(options: ContainerDriverOptions) {
    this.#o = options;
    this.#shell = options.shell ?? defaultShell;
  }

  get sourceArchive(): string {
    return `${this.#o.checkpointDir}/checkpoint.tar`;
  }

  get targetArchive(): string {
    return `${this.#o.checkpointDir}/target.tar`;
  }

  async #podId(pod: string): Promise<string> {
    // Podman 4.3 cannot find a pod by name on restore (fixed in 5.2): pass its id.
    let id = this.#podIds.get(pod);
    if (!id) {
      const r = await this.#shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", pod]);
      id = r.stdout.trim();
      this.#podIds.set(pod, id);
    }
    return id;
  }

  /**
   * Looks up what the frozen window needs while the container still runs (~30 ms each), and
   * makes sure the CRIU that runc starts finds its kernel cache (lib/criu/kerndat_cache.ts).
   */
  async prepare(): Promise<string> {
    await this.#podId(this.#o.targetPod);
    await this.#podId(this.#o.sourcePod);
    const pending = await this.#finishEarlierRename();
    const kerndat = await ensureKerndatCache({ shell: this.#shell }).catch((err) =>
      `no kernel cache: ${err instanceof Error ? err.message : err}`
    );
    return `pod ids; CRIU kernel cache ${kerndat}${pending ? `; ${pending}` : ""}`;
  }

  /** The name the container is restored under until the source is gone. */
  get restoredName(): string {
    return restoredName(this.#o.container);
  }

  /**
   * An earlier migration whose source removal and rename never ran (its switch update failed,
   * or it was killed) left the container under its temporary name: finish that now, or remove
   * a temporary one that does not run (a restore cut short) so the name is free.
   */
  async #finishEarlierRename(): Promise<string | undefined> {
    const states = await this.#states();
    const temp = states.get(this.restoredName);
    if (temp === undefined) return undefined;
    if (temp === "running" && states.get(this.#o.container) !== "running") {
      return await this.#takeNameBack(states);
    }
    await this.#shell.run(removeArgv(this.restoredName));
    return `removed a leftover ${this.restoredName}`;
  }

  /** Podman's state of the container and of its temporary name, by name. */
  async #states(): Promise<Map<string, string>> {
    const suffix = this.restoredName.slice(this.#o.container.length);
    const r = await this.#shell.run([
      "podman",
      "ps",
      "--all",
      "--filter",
      `name=^${this.#o.container}(${suffix})?$`,
      "--format",
      "{{.Names}} {{.State}}",
    ], { check: false });
    return new Map(
      r.stdout.split("\n").filter(Boolean).map((l) => l.split(" ") as [string, string]),
    );
  }

  /**
   * Removes the stopped source container and gives the restored one its name. Never removes a
   * running container of that name: with nothing under the temporary name, nothing happens.
   */
  async #takeNameBack(known?: Map<string, string>): Promise<string> {
    const states = known ?? await this.#states();
    if (!states.has(this.restoredName)) return `${this.#o.container} keeps its name`;
    if (states.get(this.#o.container) === "running") {
      throw new Error(`both ${this.#o.container} and ${this.restoredName} run`);
    }
    if (states.has(this.#o.container)) await this.#shell.run(removeArgv(this.#o.container));
    await this.#shell.run(["podman", "rename", this.restoredName, this.#o.container]);
    return `${this.restoredName} renamed ${this.#o.container}`;
  }

  async #containerPid(): Promise<number> {
    const r = await this.#shell.run(
      ["podman", "inspect", "--format", "{{.State.Pid}}", this.#o.container],
      { check: false },
    );
    return Number(r.stdout.trim()) || 0;
  }

  async dump(): Promise<string> {
    await Deno.mkdir(this.#o.checkpointDir, { recursive: true });
    await Deno.remove(this.sourceArchive).catch(() => {});
    if (this.#o.criuConfig) await writeCriuConfig(this.#o.criuConfig);
    try {
      // The configuration's hook freezes the container at CRIU's pre-dump point and lets
      // requests in flight arrive before CRIU locks the connections (lib/podman/criu_config.ts);
      // the ~90 ms Podman, runc and CRIU take to get there stay out of the outage.
      const argv = checkpointArgv(this.#o.container, this.sourceArchive);
      const checkpointing = this.#shell.run(argv, { check: false });
      const failed = (r: RunResult) => new CommandError(argv, r.code, r.stdout, r.stderr);
      // Once the export is whole, what Podman still does (unmounting, its bookkeeping; 30-300
      // ms) need not hold the frozen server: the import goes under another id and name, so it
      // does not wait for this container. The rename after the switch waits for it.
      if (await this.#exportWhole(checkpointing)) {
        this.#checkpointing = checkpointing.then((r) => {
          if (r.code !== 0) throw failed(r);
        });
        this.#checkpointing.catch(() => {});
      } else {
        const r = await checkpointing;
        if (r.code !== 0) throw failed(r);
      }
    } catch (err) {
      // CRIU leaves a cgroup frozen by the hook frozen when the dump fails; the source must
      // keep serving.
      const config = this.#o.criuConfig;
      const pid = config ? await this.#containerPid() : 0;
      if (config && pid > 0) {
        await this.#shell.run(hookArgv(config, THAW_ACTION, pid), { check: false });
      }
      throw err;
    }
    const { size } = await Deno.stat(this.sourceArchive);
    return `${(size / 1024).toFixed(0)} KiB`;
  }

  /**
   * Polls (2 ms) for the export to be whole (every member and the end-of-archive block written,
   * CRIU's images in it; lib/migrate/recovery_probes.ts). False once `checkpointing` has ended
   * first.
   */
  async #exportWhole(checkpointing: Promise<unknown>): Promise<boolean> {
    let ended = false;
    checkpointing.finally(() => ended = true).catch(() => {});
    let seen = -1;
    while (!ended) {
      const size = await Deno.stat(this.sourceArchive).then((s) => s.size, () => -1);
      // A tar ends on a 512-byte block; only a grown file can have become whole.
      if (size !== seen && size >= 1024 && size % 512 === 0) {
        seen = size;
        if (await archiveFileComplete(this.sourceArchive)) return true;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    return false;
  }

  /** Copies the export with a new container id and the temporary name in its config.dump. */
  async transfer(): Promise<string> {
    const archive = await Deno.readFile(this.sourceArchive);
    const id = newContainerId();
    const edited = editTarMember(archive, CONFIG_DUMP, (bytes) =>
      new TextEncoder().encode(
        renameConfigDump(new TextDecoder().decode(bytes), this.restoredName, id),
      ));
    await Deno.writeFile(this.targetArchive, edited);
    return `as ${this.restoredName} (${id.slice(0, 12)})`;
  }

  async rewrite(): Promise<string> {
    const changed = await rewriteArchiveAddresses(this.targetArchive, {
      from: this.#o.fromIp,
      to: this.#o.toIp,
    });
    return `${changed} sockets`;
  }

  async restore(): Promise<string> {
    // Imported under its own id and temporary name beside the stopped source (see transfer).
    const podId = await this.#podId(this.#o.targetPod);
    const config = this.#o.criuConfig;
    if (config) {
      await writeCriuConfig(config, { leaveStopped: true });
      await Deno.remove(restoredPidPath(config)).catch(() => {});
    }
    const argv = restoreArgv(this.targetArchive, podId);
    const importing = this.#shell.run(argv, { check: false });
    if (config) {
      // CRIU is done once the hook has recorded the pid and the task sits stopped, untraced:
      // Podman's own bookkeeping after that (~15-50 ms) need not hold the server frozen, so it
      // goes on beside the switch update; cleanupSource (and a rollback) wait for it.
      const ready = await this.#restoredStopped(config, importing);
      if (ready) {
        this.#stoppedPid = ready;
        this.#importing = importing.then((r) => {
          if (r.code !== 0) throw new CommandError(argv, r.code, r.stdout, r.stderr);
        });
        // Observed by cleanupSource or restoreOnSource; never an unhandled rejection.
        this.#importing.catch(() => {});
        return `${this.#o.targetPod}, pid ${ready} stopped until the switch moves`;
      }
    }
    const imported = await importing;
    if (imported.code !== 0) {
      // A restore cut short (a killed migration being recovered) can leave the temporary name
      // taken by a container that never ran: remove it and import once more.
      const left = (await this.#states()).get(this.restoredName);
      if (left === undefined || left === "running") {
        throw new CommandError(argv, imported.code, imported.stdout, imported.stderr);
      }
      await this.#shell.run(removeArgv(this.restoredName));
      await this.#shell.run(argv);
    }
    if (!config) return this.#o.targetPod;
    const recorded = await Deno.readTextFile(restoredPidPath(config)).catch(() => "");
    this.#stoppedPid = Number(recorded.trim()) || await this.#containerPid();
    return `${this.#o.targetPod}, pid ${this.#stoppedPid} stopped until the switch moves`;
  }

  /**
   * Polls (2 ms) for the pid the hook records at CRIU's pre-resume point and for that task to be
   * stopped (`T`) with no tracer: CRIU has detached and SIGCONT can no longer be lost. Returns
   * the pid, or 0 once `importing` has ended first.
   */
  async #restoredStopped(config: string, importing: Promise<unknown>): Promise<number> {
    let ended = false;
    importing.finally(() => ended = true).catch(() => {});
    while (!ended) {
      const pid = Number((await Deno.readTextFile(restoredPidPath(config)).catch(() => "")).trim());
      if (pid > 0 && processStat(pid)?.state === "T") {
        const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
        if (/^TracerPid:\s+0$/m.test(status)) return pid;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    return 0;
  }

  /**
   * Lets the restored server run (SIGCONT), then takes `leave-stopped` out of the CRIU
   * configuration again. Idempotent; returns whether it resumed a server.
   */
  async resume(): Promise<boolean> {
    const pid = this.#stoppedPid;
    this.#stoppedPid = undefined;
    const resumed = pid !== undefined && signalProcess(pid, "SIGCONT");
    if (pid !== undefined && !this.#renaming) {
      // Not awaited: the window is over, and cleanupSource waits for it. Kept from rejecting so
      // a run that ends without cleanupSource (the switch update failed) cannot crash on it.
      const podmanDone = Promise.all([this.#checkpointing, this.#importing]);
      this.#renaming = podmanDone.then(() => this.#takeNameBack()).catch((err) =>
        `${this.restoredName} keeps its name: ${err instanceof Error ? err.message : err}`
      );
    }
    if (this.#o.criuConfig) await writeCriuConfig(this.#o.criuConfig);
    return resumed;
  }

  /**
   * Takes over a server that an interrupted run of this migration restored into the target pod
   * (a recovery, see lib/migrate/recovery.ts): {@link resume} lets it run.
   */
  adoptRestored(pid: number): void {
    this.#stoppedPid = pid;
  }

  /**
   * Restores the container where it was checkpointed, from the checkpoint Podman keeps in its
   * own storage: a recovery's way back when the export never finished (Podman died with the
   * migration, after CRIU had dumped and stopped the container).
   */
  async restoreInPlace(): Promise<string> {
    this.#stoppedPid = undefined;
    if (this.#o.criuConfig) await writeCriuConfig(this.#o.criuConfig);
    await this.#shell.run([
      "podman",
      "container",
      "restore",
      "--tcp-established",
      this.#o.container,
    ]);
    return `${this.#o.sourcePod}, from Podman's own checkpoint`;
  }

  async restoreOnSource(): Promise<string> {
    // A restore that failed half-way may have left a stopped server behind; it goes with rm.
    this.#stoppedPid = undefined;
    await this.#checkpointing?.catch(() => {});
    await this.#importing?.catch(() => {});
    if (this.#o.criuConfig) await writeCriuConfig(this.#o.criuConfig);
    await this.#shell.run(removeArgv(this.restoredName));
    await this.#shell.run(removeArgv(this.#o.container));
    await this.#shell.run(restoreArgv(this.sourceArchive, await this.#podId(this.#o.sourcePod)));
    // A restore that failed in the target pod leaves CRIU's namespace-wide lock there (a table
    // dropping every packet, named after the dump): the next migration into that pod would lose
    // all its clients. The workload is back, so a failure here is only reported.
    const target = this.#o.targetNetns;
    if (!target) return this.#o.sourcePod;
    try {
      const removed = await this.#releaseLock(target);
      return removed.length
        ? `${this.#o.sourcePod}; removed the lock left in ${this.#o.targetPod}`
        : this.#o.sourcePod;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return `${this.#o.sourcePod}; CRIU's lock is left in ${this.#o.targetPod}: ${reason}`;
    }
  }

  async cleanupSource(): Promise<string> {
    await this.#checkpointing;
    await this.#importing;
    const renamed = await (this.#renaming ?? this.#takeNameBack());
    this.#renaming = undefined;
    // CRIU's connection lock stays in the source pod's namespace after the dump.
    const removed = await this.#releaseLock(this.#o.sourceNetns);
    const lock = removed.length
      ? `removed CRIU's lock: ${removed.length === 1 ? removed[0] : `${removed.length} rules`}`
      : "no lock left";
    return `${renamed}; ${lock}`;
  }

  /**
   * Removes the lock this checkpoint's CRIU runs left in a namespace; what names it is in the
   * checkpoint's inventory, process tree and files images.
   */
  async #releaseLock(netns: string): Promise<string[]> {
    const archive = await Deno.readFile(this.sourceArchive);
    const dir = `${this.#o.checkpointDir}/source-images`;
    await Deno.mkdir(dir, { recursive: true });
    const wanted = ["inventory.img", "pstree.img", "files.img"].map((f) => `checkpoint/${f}`);
    for (const member of listTar(archive)) {
      const name = member.name.replace(/^\.\//, "");
      if (!wanted.includes(name)) continue;
      const data = archive.subarray(member.dataOffset, member.dataOffset + member.size);
      await Deno.writeFile(`${dir}/${name.slice("checkpoint/".length)}`, data);
    }
    return await releaseSourceLock({ shell: this.#shell, netns, imagesDir: dir });
  }
}
