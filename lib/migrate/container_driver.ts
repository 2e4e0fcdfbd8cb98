/**
 * A {@link MigrationDriver} for a Podman container in a lab pod: checkpoint with its established
 * TCP connections into an uncompressed archive, rewrite the socket addresses inside the archive
 * (no unpacking), and restore it into the target pod, whose network namespace has the new
 * address.
 *
 * Files in the checkpoint directory: `checkpoint.tar` (Podman's export, never modified: the
 * rollback restores from it) and `target.tar` (the transferred, rewritten copy).
 *
 * @module
 */
import { encodeImage, parseImage } from "../criu/images.ts";
import { releaseSourceLock } from "../criu/checkpoint.ts";
import { rewriteInetAddresses } from "../criu/rewrite.ts";
import { checkpointArgv, removeArgv, restoreArgv } from "../podman/checkpoint.ts";
import { editTarMember, listTar } from "../podman/tar.ts";
import { defaultShell, type Shell } from "../shell.ts";
import type { MigrationDriver } from "./run.ts";

export interface ContainerDriverOptions {
  shell?: Shell;
  container: string;
  sourcePod: string;
  targetPod: string;
  /** Named network namespaces of the two pods (where CRIU's lock rules end up). */
  sourceNetns: string;
  fromIp: string;
  toIp: string;
  /** Directory for the archives (kept after the migration for inspection). */
  checkpointDir: string;
}

const FILES_IMG = "checkpoint/files.img";

export class ContainerDriver implements MigrationDriver {
  readonly #o: ContainerDriverOptions;
  readonly #shell: Shell;

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
    const r = await this.#shell.run(["podman", "pod", "inspect", "--format", "{{.Id}}", pod]);
    return r.stdout.trim();
  }

  async dump(): Promise<string> {
    await Deno.mkdir(this.#o.checkpointDir, { recursive: true });
    await this.#shell.run(checkpointArgv(this.#o.container, this.sourceArchive));
    const { size } = await Deno.stat(this.sourceArchive);
    return `${(size / 1024).toFixed(0)} KiB`;
  }

  async transfer(): Promise<void> {
    await Deno.copyFile(this.sourceArchive, this.targetArchive);
  }

  async rewrite(): Promise<string> {
    const archive = await Deno.readFile(this.targetArchive);
    let changed = 0;
    const edited = editTarMember(archive, FILES_IMG, (bytes) => {
      const result = rewriteInetAddresses(parseImage(bytes, FILES_IMG), {
        from: this.#o.fromIp,
        to: this.#o.toIp,
      });
      changed = result.changed.length;
      return encodeImage(result.image);
    });
    await Deno.writeFile(this.targetArchive, edited);
    return `${changed} sockets`;
  }

  async restore(): Promise<string> {
    // The checkpointed name is kept (Podman refuses --name with --tcp-established), so the
    // stopped source container must go first; the original archive still holds it.
    await this.#shell.run(removeArgv(this.#o.container));
    await this.#shell.run(restoreArgv(this.targetArchive, await this.#podId(this.#o.targetPod)));
    return this.#o.targetPod;
  }

  async restoreOnSource(): Promise<string> {
    await this.#shell.run(removeArgv(this.#o.container));
    await this.#shell.run(restoreArgv(this.sourceArchive, await this.#podId(this.#o.sourcePod)));
    return this.#o.sourcePod;
  }

  async cleanupSource(): Promise<string> {
    // CRIU's connection lock stays in the source pod's namespace after the dump; what names it
    // is in the checkpoint's inventory, process tree and files images.
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
    const removed = await releaseSourceLock({
      shell: this.#shell,
      netns: this.#o.sourceNetns,
      imagesDir: dir,
    });
    return removed.length ? `removed CRIU's lock (${removed.length} rules)` : "nothing left";
  }
}
