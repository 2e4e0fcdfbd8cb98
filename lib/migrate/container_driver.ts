/**
 * A {@link MigrationDriver} for a Podman container in a lab pod: checkpoint with its established
 * TCP connections into an uncompressed archive, rewrite the socket addresses inside the archive
 * (no unpacking), and restore it into the target pod, whose network namespace has the new
 * address.
 *
 * Files in the checkpoint directory: `checkpoint.tar` (Podman's export, never modified: the
 * rollback restores from it) and `target.tar` (the transferred, rewritten copy).
 *
 * With the container's CRIU configuration file (`criuConfig`, see lib/podman/criu_config.ts) the
 * dump freezes fast and locks with nftables, and the restored server stays stopped until
 * {@link ContainerDriver.resume}, which runMigration calls right after the switch update.
 *
 * @module
 */
import { rewriteArchiveAddresses } from "../criu/archive.ts";
import { releaseSourceLock } from "../criu/checkpoint.ts";
import { checkpointArgv, removeArgv, restoreArgv } from "../podman/checkpoint.ts";
import { hookArgv, restoredPidPath, THAW_ACTION, writeCriuConfig } from "../podman/criu_config.ts";
import { listTar } from "../podman/tar.ts";
import { defaultShell, type Shell, signalProcess } from "../shell.ts";
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
  /** The running container's pid, looked up before the freeze. */
  #sourcePid = 0;

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

  /** Looks up what the frozen window needs while the container still runs (~30 ms each). */
  async prepare(): Promise<string> {
    await this.#podId(this.#o.targetPod);
    await this.#podId(this.#o.sourcePod);
    if (this.#o.criuConfig) this.#sourcePid = await this.#containerPid();
    return this.#sourcePid ? `pod ids, pid ${this.#sourcePid}` : "pod ids";
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
    if (this.#o.criuConfig) await writeCriuConfig(this.#o.criuConfig);
    try {
      // Freeze before Podman starts (~90 ms before CRIU freezes and locks): a request arriving
      // meanwhile is queued in the socket and answered after the restore, where one arriving
      // after the lock is dropped and waits for the client's retransmission (~415 or ~840 ms).
      if (this.#o.criuConfig && this.#sourcePid) {
        await this.#shell.run(hookArgv(this.#o.criuConfig, "pre-dump", this.#sourcePid));
      }
      await this.#shell.run(checkpointArgv(this.#o.container, this.sourceArchive));
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

  async transfer(): Promise<void> {
    await Deno.copyFile(this.sourceArchive, this.targetArchive);
  }

  async rewrite(): Promise<string> {
    const changed = await rewriteArchiveAddresses(this.targetArchive, {
      from: this.#o.fromIp,
      to: this.#o.toIp,
    });
    return `${changed} sockets`;
  }

  async restore(): Promise<string> {
    // The checkpointed name is kept (Podman refuses --name with --tcp-established), so the
    // stopped source container must go first; the original archive still holds it.
    const podId = await this.#podId(this.#o.targetPod);
    const config = this.#o.criuConfig;
    if (config) {
      await writeCriuConfig(config, { leaveStopped: true });
      await Deno.remove(restoredPidPath(config)).catch(() => {});
    }
    await this.#shell.run(removeArgv(this.#o.container));
    await this.#shell.run(restoreArgv(this.targetArchive, podId));
    if (!config) return this.#o.targetPod;
    const recorded = await Deno.readTextFile(restoredPidPath(config)).catch(() => "");
    this.#stoppedPid = Number(recorded.trim()) || await this.#containerPid();
    return `${this.#o.targetPod}, pid ${this.#stoppedPid} stopped until the switch moves`;
  }

  /**
   * Lets the restored server run (SIGCONT), then takes `leave-stopped` out of the CRIU
   * configuration again. Idempotent; returns whether it resumed a server.
   */
  async resume(): Promise<boolean> {
    const pid = this.#stoppedPid;
    this.#stoppedPid = undefined;
    const resumed = pid !== undefined && signalProcess(pid, "SIGCONT");
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
    if (this.#o.criuConfig) await writeCriuConfig(this.#o.criuConfig);
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
    // CRIU's connection lock stays in the source pod's namespace after the dump.
    const removed = await this.#releaseLock(this.#o.sourceNetns);
    if (!removed.length) return "nothing left";
    return `removed CRIU's lock: ${removed.length === 1 ? removed[0] : `${removed.length} rules`}`;
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
