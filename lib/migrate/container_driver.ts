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
 * A prepared target takes most of Podman out of the frozen window. Measured here (2 cores,
 * Podman 4.3, runc 1.1), the import path's restore took 200-300 ms, the client's outage 0.83x
 * that of Podman's own checkpoint/restore; the prepared path's restore takes 100-120 ms and the
 * outage 0.52-0.57x (`deno task bench peers`, container). Before the freeze,
 * {@link ContainerDriver.prepare}:
 * - creates the container the restore goes into, under the temporary name in the target pod,
 *   from the source's own create command (lib/podman/checkpoint.ts, `prepareTargetArgv`), has
 *   Podman initialise and stop it, and copies the source's root file system changes into it;
 * - starts a Podman API service (lib/podman/api.ts) whose runc runs CRIU through a gate
 *   (lib/podman/criu_gate.ts), so the restore request needs no `podman` process start.
 *
 * The restore request goes to that service as the dump starts: Podman's checks, the mount,
 * conmon and runc happen beside the dump, and runc's first CRIU run waits in the gate. The
 * window then holds: CRIU's dump up to its `post-dump` hook (runc's and Podman's remaining work
 * and the export go on beside the rest), hard links of CRIU's images into the prepared
 * container's `checkpoint/`, the rewrite of its files.img, and, once the gate opens, runc's
 * CRIU restore. The root file system is copied again in the window (the gated restore given up
 * first) only if it changed after prepare. Podman's export stays the rollback's and the
 * recovery's checkpoint. Without a create command to follow, a CRIU configuration or an API
 * service, the corresponding step falls back to the import path described above.
 *
 * Known difference: Podman 4.3 leaves the start time of a container restored from its own
 * directory unset, so `podman ps` says "Up 292 years ago" for the migrated container
 * (`podman inspect` shows `Restored: true` and the restore time).
 *
 * @module
 */
import { rewriteArchiveAddresses } from "../criu/archive.ts";
import { releaseSourceLock } from "../criu/checkpoint.ts";
import { ensureKerndatCache } from "../criu/kerndat_cache.ts";
import { CommandError } from "../errors.ts";
import { criuBinary } from "../capabilities.ts";
import { rewriteDumpAddresses } from "../criu/rewrite.ts";
import {
  checkpointArgv,
  CONFIG_DUMP,
  type ContainerStorage,
  copyRootfsChangesArgv,
  listingChanges,
  newContainerId,
  parseStorage,
  prepareTargetArgv,
  prepareTargetSteps,
  removeArgv,
  renameConfigDump,
  restoreArgv,
  restoredName,
  restorePreparedArgv,
  STORAGE_FORMAT,
  upperDirListing,
} from "../podman/checkpoint.ts";
import {
  gatePaths,
  gateRuntimeFlag,
  gateScript,
  PLACEHOLDER_INVENTORY,
} from "../podman/criu_gate.ts";
import { RunGate } from "../criu/run_gate.ts";
import {
  dumpedPidPath,
  hookArgv,
  restoredPidPath,
  THAW_ACTION,
  writeCriuConfig,
} from "../podman/criu_config.ts";
import { editTarMember, listTar } from "../podman/tar.ts";
import { podCgroup, restoredCgroupRoot, unifiedCgroups } from "../podman/cgroup_root.ts";
import {
  apiRequest,
  holdService,
  MAX_SOCKET_PATH,
  restorePath,
  serviceArgv,
  type ServiceHold,
  ServiceUnreachableError,
  waitForService,
} from "../podman/api.ts";
import {
  defaultShell,
  netnsPath,
  processStat,
  type RunResult,
  type Shell,
  signalProcess,
  spawnDetached,
} from "../shell.ts";
import { archiveFileComplete } from "./recovery_probes.ts";
import { SegmentTap } from "../net/segment_tap.ts";
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
  /**
   * TCP ports whose segments CRIU's lock refuses are handed to the restored server right after
   * the switch update (lib/net/segment_tap.ts; needs `targetNetns`): the service port. None: no
   * hand-over, the clients retransmit on their own.
   */
  ports?: readonly number[];
}

export class ContainerDriver implements MigrationDriver {
  readonly #o: ContainerDriverOptions;
  readonly #shell: Shell;
  /** Pid of the restored server while it waits stopped for {@link resume}. */
  #stoppedPid?: number;
  /** Pod ids by name, looked up before the freeze. */
  readonly #podIds = new Map<string, string>();
  /** The id transfer() gave the container imported from the archive. */
  #importedId?: string;
  /** Removing the source and renaming the restored container, once started by resume(). */
  #renaming?: Promise<string>;
  /** Podman's import still finishing after CRIU restored the server (see restore()). */
  #importing?: Promise<void>;
  /** Podman's checkpoint still finishing after its export was whole (see dump()). */
  #checkpointing?: Promise<void>;
  /** The source's and the prepared target's storage, when prepare() made the target. */
  #prepared?: { source: ContainerStorage; target: ContainerStorage };
  /** Copying the source's root file system changes into the prepared target (transfer()). */
  #rootfsCopy?: Promise<RunResult>;
  /** The source's upper directory as prepare() copied it into the prepared target. */
  #upperCopied?: string;
  /** The Podman API service that restores the prepared target (lib/podman/api.ts). */
  #service?: { pid: number; socket: string; hold?: ServiceHold; gated: boolean };
  /** The CRIU gate that service's runc waits at, held closed until the images are in place. */
  #criuGate?: RunGate;
  /** The restore sent to the service as the dump started, waiting in the CRIU gate. */
  #gatedRestore?: Promise<RunResult | "unreachable">;
  /** Holds the segments the lock refuses, for the restored server (see `ports`). */
  #tap?: SegmentTap;

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
   * The restored container's cgroup for CRIU's `cgroup-root`, on a pure cgroup v2 machine only:
   * there runc 1.1 does not get it across, and CRIU would put the server back under the source
   * pod's cgroup, failing the next checkpoint (lib/podman/cgroup_root.ts).
   */
  async #cgroupRoot(): Promise<string | undefined> {
    const id = this.#prepared?.target.id ?? this.#importedId;
    if (!id || !unifiedCgroups()) return undefined;
    // A stat or two and the pod id looked up before the freeze: this runs inside the window.
    const pod = podCgroup(await this.#podId(this.#o.targetPod));
    return pod && restoredCgroupRoot(pod, id);
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
    const target = await this.#prepareTarget().catch((err) =>
      `imports the archive: ${err instanceof Error ? err.message.split("\n")[0] : err}`
    );
    const service = this.#prepared
      ? await this.#startService().catch((err) =>
        `podman restores (no API service: ${err instanceof Error ? err.message : err})`
      )
      : undefined;
    const tap = await this.#startTap().catch((err) =>
      `; no segment tap: ${err instanceof Error ? err.message : err}`
    );
    return `pod ids; CRIU kernel cache ${kerndat}${pending ? `; ${pending}` : ""}; ${target}` +
      (service ? `; ${service}` : "") + tap;
  }

  /** Starts the segment tap in the source pod (see `ports`); returns a note. */
  async #startTap(): Promise<string> {
    const ports = this.#o.ports ?? [];
    if (!ports.length || !this.#o.targetNetns) return "";
    this.#tap?.close();
    this.#tap = await SegmentTap.start({
      shell: this.#shell,
      netnsPath: netnsPath(this.#o.sourceNetns),
      ports,
      dir: this.#o.checkpointDir,
    });
    return "; segment tap ready";
  }

  /** Ends the tap without handing anything over (a failed dump, a rollback). */
  #dropTap(): void {
    this.#tap?.close();
    this.#tap = undefined;
  }

  /** Where the API service listens: in the migration's private directory. */
  get serviceSocket(): string {
    return `${this.#o.checkpointDir}/podman.sock`;
  }

  /**
   * Starts Podman's API service for the restore (see lib/podman/api.ts) and waits until it
   * answers. It stops once the restore is done; a killed migration's stops by itself 2 s after
   * the connection this process holds to it is gone (`lab down` and `lab recover` wait for it
   * like for any orphaned Podman command of the lab).
   */
  async #startService(): Promise<string> {
    const socket = this.serviceSocket;
    if (new TextEncoder().encode(socket).length > MAX_SOCKET_PATH) {
      return "podman restores (the checkpoint directory's path is too long for a socket)";
    }
    await Deno.mkdir(this.#o.checkpointDir, { recursive: true });
    await Deno.remove(socket).catch(() => {});
    // The CRIU gate (lib/podman/criu_gate.ts) lets the restore start with the dump.
    const gate = gatePaths(this.#o.checkpointDir);
    const criu = criuBinary();
    const gated = criu !== undefined && this.#o.criuConfig !== undefined &&
      await this.#writeGate(criu);
    const pid = await spawnDetached(
      this.#shell,
      serviceArgv(socket, 2, gated ? gateRuntimeFlag(gate) : []),
      {
        logFile: `${this.#o.checkpointDir}/podman-service.log`,
        pidFile: `${this.#o.checkpointDir}/podman-service.pid`,
      },
    );
    this.#service = { pid, socket, gated };
    if (!await waitForService(socket, 5000)) {
      this.#stopService();
      throw new Error(`it did not answer on ${socket} within 5 s`);
    }
    try {
      this.#service.hold = await holdService(socket);
    } catch (err) {
      this.#stopService();
      throw err;
    }
    return `API service pid ${pid}${gated ? ", CRIU gated" : ""}`;
  }

  /** Writes the CRIU gate's script and holds the gate closed; false (no gate) when that fails. */
  async #writeGate(criu: string): Promise<boolean> {
    const paths = gatePaths(this.#o.checkpointDir);
    await this.#criuGate?.open(false);
    try {
      this.#criuGate = await RunGate.create(paths.gate);
      await Deno.writeTextFile(paths.script, gateScript(paths, criu), { mode: 0o700 });
      return true;
    } catch {
      await this.#criuGate?.open(false);
      this.#criuGate = undefined;
      return false;
    }
  }

  /** Stops the API service, if one runs, and lets go of its CRIU gate. Idempotent. */
  #stopService(): void {
    this.#criuGate?.open(false).catch(() => {});
    this.#criuGate = undefined;
    this.#service?.hold?.close();
    if (this.#service) signalProcess(this.#service.pid, "SIGTERM");
    this.#service = undefined;
  }

  /**
   * Creates, initialises and stops the container the restore goes into (see the module doc).
   * Whatever it created is removed again when a step fails; the migration then imports.
   */
  async #prepareTarget(): Promise<string> {
    this.#prepared = undefined;
    const r = await this.#shell.run(
      ["podman", "inspect", "--format", "{{json .Config.CreateCommand}}", this.#o.container],
      { check: false },
    );
    let command: unknown;
    try {
      command = JSON.parse(r.stdout);
    } catch {
      command = undefined;
    }
    const pod = await this.#podId(this.#o.targetPod);
    const argv = Array.isArray(command) && command.every((a) => typeof a === "string")
      ? prepareTargetArgv(command, this.restoredName, pod)
      : undefined;
    if (!argv) return "imports the archive (no create command to follow)";
    try {
      await this.#shell.run(argv);
      for (const step of prepareTargetSteps(this.restoredName)) await this.#shell.run(step);
      const [source, target] = await Promise.all(
        [this.#o.container, this.restoredName].map((c) => this.#storage(c)),
      );
      // The source's root file system changes so far, while the prepared container is not
      // mounted; transfer() copies again only if anything changed since (rarely).
      const listing = await upperDirListing(source.upper);
      await this.#shell.run(copyRootfsChangesArgv(source.upper, target.upper));
      this.#upperCopied = listing;
      this.#prepared = { source, target };
    } catch (err) {
      await this.#shell.run(removeArgv(this.restoredName), { check: false });
      throw err;
    }
    return `${this.restoredName} prepared in ${this.#o.targetPod}`;
  }

  async #storage(container: string): Promise<ContainerStorage> {
    const r = await this.#shell.run(["podman", "inspect", "--format", STORAGE_FORMAT, container]);
    const storage = parseStorage(r.stdout);
    if (!storage) {
      throw new Error(`podman inspect ${container}: no storage in "${r.stdout.trim()}"`);
    }
    return storage;
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
    // From now on: CRIU's lock follows the freeze within milliseconds. Earlier segments are
    // duplicates the restored socket drops.
    this.#tap?.record();
    try {
      // The configuration's hook freezes the container at CRIU's pre-dump point and lets
      // requests in flight arrive before CRIU locks the connections (lib/podman/criu_config.ts);
      // the ~90 ms Podman, runc and CRIU take to get there stay out of the outage.
      const argv = checkpointArgv(this.#o.container, this.sourceArchive);
      const dumped = this.#prepared && this.#o.criuConfig
        ? dumpedPidPath(this.#o.criuConfig)
        : undefined;
      if (dumped) await Deno.remove(dumped).catch(() => {});
      const checkpointing = this.#shell.run(argv, { check: false });
      if (this.#prepared && this.#service?.gated) {
        // Podman's and runc's part of the restore goes on beside the dump, up to runc's first
        // CRIU run, which waits in the gate for the images (lib/podman/criu_gate.ts).
        const dir = `${this.#prepared.target.bundle}/checkpoint`;
        await Deno.mkdir(dir, { recursive: true });
        await Deno.writeFile(`${dir}/${PLACEHOLDER_INVENTORY}`, new Uint8Array());
        this.#gatedRestore = this.#requestRestore(this.#service.socket);
        this.#gatedRestore.catch(() => {});
      }
      const failed = (r: RunResult) => new CommandError(argv, r.code, r.stdout, r.stderr);
      // Once the export is whole, what Podman still does (unmounting, its bookkeeping; 30-300
      // ms) need not hold the frozen server: the import goes under another id and name, so it
      // does not wait for this container. The rename after the switch waits for it. A prepared
      // target needs only CRIU's images: they are whole at CRIU's post-dump point, before runc
      // and Podman finish (~40-100 ms, the export included).
      const early = dumped
        ? await this.#dumpedMarked(dumped, checkpointing)
        : await this.#exportWhole(checkpointing);
      if (early) {
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
      // No rollback follows a failed dump: the gated restore fails, the prepared container goes.
      await this.#abortGatedRestore();
      if (this.#prepared) await this.#shell.run(removeArgv(this.restoredName), { check: false });
      this.#prepared = undefined;
      this.#stopService();
      this.#dropTap();
      throw err;
    }
    if (this.#prepared) return "images written (post-dump)";
    const { size } = await Deno.stat(this.sourceArchive);
    return `${(size / 1024).toFixed(0)} KiB`;
  }

  /**
   * Polls (1 ms) for the hook's post-dump record (lib/podman/criu_config.ts, `dumpedPidPath`).
   * False once `checkpointing` has ended first.
   */
  async #dumpedMarked(path: string, checkpointing: Promise<unknown>): Promise<boolean> {
    let ended = false;
    checkpointing.finally(() => ended = true).catch(() => {});
    while (!ended) {
      const pid = Number((await Deno.readTextFile(path).catch(() => "")).trim());
      if (pid > 0) return true;
      await new Promise((r) => setTimeout(r, 1));
    }
    return false;
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

  /**
   * Copies the export with a new container id and the temporary name in its config.dump; for a
   * prepared target, CRIU's images and the root file system's changes into its directories.
   */
  async transfer(): Promise<string> {
    if (this.#prepared) return await this.#transferPrepared(this.#prepared);
    const archive = await Deno.readFile(this.sourceArchive);
    const id = newContainerId();
    this.#importedId = id;
    const edited = editTarMember(archive, CONFIG_DUMP, (bytes) =>
      new TextEncoder().encode(
        renameConfigDump(new TextDecoder().decode(bytes), this.restoredName, id),
      ));
    await Deno.writeFile(this.targetArchive, edited);
    return `as ${this.restoredName} (${id.slice(0, 12)})`;
  }

  /**
   * CRIU's images into the prepared container's `checkpoint/`, and the source's upper directory
   * (its files written, whiteouts of those deleted) over the prepared one's, which is not
   * mounted: what Podman's export carries as `rootfs-diff.tar` and its import applies.
   */
  async #transferPrepared(p: { source: ContainerStorage; target: ContainerStorage }) {
    const from = `${p.source.bundle}/checkpoint`;
    const to = `${p.target.bundle}/checkpoint`;
    // Changed since prepare() copied them: copy again, into the upper directory of a prepared
    // container that is not mounted, so a gated restore (which has mounted it) is given up.
    const changed = !await this.#upperUnchanged(p.source);
    if (changed) {
      await this.#abortGatedRestore();
      // The root file system's changes are copied while the images are linked and rewritten;
      // rewrite() waits for it.
      this.#rootfsCopy = this.#shell.run(copyRootfsChangesArgv(p.source.upper, p.target.upper));
      this.#rootfsCopy.catch(() => {});
    }
    // The directory stays (a gated runc is given its path): only its entries are replaced.
    await Deno.mkdir(to, { recursive: true });
    const stale: string[] = [];
    for await (const entry of Deno.readDir(to)) stale.push(entry.name);
    await Promise.all(stale.map((name) => Deno.remove(`${to}/${name}`, { recursive: true })));
    // Hard links: nothing writes to an image in place (the rewrite replaces files.img by a
    // rename), and the source's own directory is not the rollback's checkpoint (the export is).
    const links: Promise<void>[] = [];
    for await (const entry of Deno.readDir(from)) {
      if (!entry.isFile) throw new Error(`${from}/${entry.name}: not a file, cannot copy`);
      links.push(Deno.link(`${from}/${entry.name}`, `${to}/${entry.name}`));
    }
    await Promise.all(links);
    const rootfs = changed ? "; root file system changed since prepare, copied again" : "";
    return `${links.length} images into ${this.restoredName} (${p.target.id.slice(0, 12)})` +
      rootfs;
  }

  /**
   * Whether the source's upper directory holds what prepare() copied. Directories that only
   * appeared because CRIU's dump made a temporary directory in them (overlayfs copies such a
   * directory up from the image) do not count when the image has them, empty: the prepared
   * container sees the same there.
   */
  async #upperUnchanged(source: ContainerStorage): Promise<boolean> {
    if (this.#upperCopied === undefined) return false;
    const now = await upperDirListing(source.upper);
    if (now === this.#upperCopied) return true;
    const { added, altered } = listingChanges(this.#upperCopied, now);
    if (altered) return false;
    for (const { path, type } of added) {
      if (type !== "d" || !await this.#emptyInImage(source.lower, path)) return false;
    }
    return true;
  }

  /** Whether the image has `path` as a directory, empty in every layer that has it. */
  async #emptyInImage(lower: string[], path: string): Promise<boolean> {
    let found = false;
    for (const layer of lower) {
      const info = await Deno.lstat(`${layer}${path}`).catch(() => undefined);
      if (!info) continue;
      if (!info.isDirectory) return false;
      for await (const _ of Deno.readDir(`${layer}${path}`)) return false;
      found = true;
    }
    return found;
  }

  async rewrite(): Promise<string> {
    if (this.#prepared) {
      const dir = `${this.#prepared.target.bundle}/checkpoint`;
      const { changed } = await rewriteDumpAddresses(dir, {
        from: this.#o.fromIp,
        to: this.#o.toIp,
      });
      await this.#rootfsCopy;
      return `${changed.length} sockets`;
    }
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
      await writeCriuConfig(config, { leaveStopped: true, cgroupRoot: await this.#cgroupRoot() });
      await Deno.remove(restoredPidPath(config)).catch(() => {});
    }
    const argv = this.#prepared
      ? restorePreparedArgv(this.restoredName)
      : restoreArgv(this.targetArchive, podId);
    const gated = this.#gatedRestore;
    this.#gatedRestore = undefined;
    if (gated) await this.#criuGate?.open(true);
    const importing = gated
      ? gated.then((r) => r === "unreachable" ? this.#shell.run(argv, { check: false }) : r)
      : this.#prepared && this.#service
      ? this.#restoreByService(this.#service.socket, argv)
      : this.#shell.run(argv, { check: false });
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
    if (imported.code !== 0 && this.#prepared) {
      throw new CommandError(argv, imported.code, imported.stdout, imported.stderr);
    }
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
   * The prepared restore through the API service, answered like the command it stands for
   * (`argv`, {@link restorePreparedArgv}): the service's error as stderr. The service stops
   * once it has answered; one already gone (its idle time ran out during a long dump) leaves the
   * restore to that command.
   */
  async #restoreByService(socket: string, argv: string[]): Promise<RunResult> {
    const r = await this.#requestRestore(socket);
    return r === "unreachable" ? await this.#shell.run(argv, { check: false }) : r;
  }

  /**
   * The API request restoring the prepared target, its answer as a command's result, or
   * "unreachable" when no service took it. The service stops once it has answered.
   */
  async #requestRestore(socket: string): Promise<RunResult | "unreachable"> {
    try {
      const r = await apiRequest(socket, "POST", restorePath(this.restoredName));
      const ok = r.status >= 200 && r.status < 300;
      return {
        code: ok ? 0 : 125,
        stdout: ok ? r.body : "",
        stderr: ok ? "" : `API ${r.status}: ${r.body.trim()}`,
      };
    } catch (err) {
      if (err instanceof ServiceUnreachableError) return "unreachable";
      return {
        code: 125,
        stdout: "",
        stderr: `API service: ${err instanceof Error ? err.message : err}`,
      };
    } finally {
      this.#stopService();
    }
  }

  /**
   * Fails a gated restore (opens its gate with "stop") and waits for Podman to have given it up (it
   * unmounts the prepared container again). Idempotent.
   */
  async #abortGatedRestore(): Promise<void> {
    const gated = this.#gatedRestore;
    this.#gatedRestore = undefined;
    if (!gated) return;
    await this.#criuGate?.open(false);
    await gated.catch(() => {});
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
    await this.#handOver();
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

  /** Where the tap's segments go. */
  get #replayTarget() {
    return {
      netnsPath: netnsPath(this.#o.targetNetns ?? ""),
      from: this.#o.fromIp,
      to: this.#o.toIp,
    };
  }

  /** Hands the segments the tap kept so far to the restored server (best effort). */
  async #handOver(): Promise<void> {
    if (this.#o.targetNetns) await this.#tap?.replay(this.#replayTarget);
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
    this.#dropTap();
    await this.#abortGatedRestore();
    await this.#checkpointing?.catch(() => {});
    await this.#importing?.catch(() => {});
    this.#stopService();
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
    // Before the lock goes: what reaches the source after it would be reset by its kernel.
    const tap = this.#tap;
    this.#tap = undefined;
    const replayed = await tap?.finish(this.#replayTarget);
    // CRIU's connection lock stays in the source pod's namespace after the dump.
    const removed = await this.#releaseLock(this.#o.sourceNetns);
    const lock = removed.length
      ? `removed CRIU's lock: ${removed.length === 1 ? removed[0] : `${removed.length} rules`}`
      : "no lock left";
    return `${renamed}; ${lock}${replayed ? `; ${replayed}` : ""}`;
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
