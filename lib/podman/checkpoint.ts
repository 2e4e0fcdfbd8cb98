/**
 * Argv for Podman's checkpoint/restore of a container with established TCP connections.
 *
 * The archive is uncompressed so the socket addresses inside it can be rewritten in place
 * (lib/podman/tar.ts) without a decompress/compress round trip in the frozen window. Podman
 * refuses `--name` together with `--tcp-established` on restore and an import whose id exists, so
 * a migration gives the archive's `config.dump` a new id and a temporary name
 * ({@link renameConfigDump}): the stopped source container is removed, and the restored one takes
 * its name back, after the switch has moved, not inside the frozen window.
 *
 * @module
 */

/** `podman container checkpoint`: freeze, dump, export, stop the container. */
export function checkpointArgv(container: string, archive: string): string[] {
  return [
    "podman",
    "container",
    "checkpoint",
    "--export",
    archive,
    "--compress",
    "none",
    "--tcp-established",
    container,
  ];
}

/**
 * `podman container restore --import` into a pod. The pod owns the network namespace and thus
 * the new address, so the container's recorded static IP/MAC must be ignored.
 */
export function restoreArgv(archive: string, pod: string): string[] {
  return [
    "podman",
    "container",
    "restore",
    "--import",
    archive,
    "--tcp-established",
    "--ignore-static-ip",
    "--ignore-static-mac",
    "--pod",
    pod,
  ];
}

/** Removes a container (stopped after its checkpoint, or half-restored). */
export function removeArgv(container: string): string[] {
  return ["podman", "rm", "--force", "--ignore", container];
}

/**
 * The name a migrated container is restored under while its checkpointed source still exists
 * (see {@link renameConfigDump}); it takes its own name back once the source is removed.
 */
export function restoredName(container: string): string {
  return `${container}-p4cf-next`;
}

/** Podman's container description inside a checkpoint archive. */
export const CONFIG_DUMP = "config.dump";

/** A fresh 64-hex container id. */
export function newContainerId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * `config.dump` (Podman's indented JSON) with another container id and name, so that
 * `podman container restore --import` creates a second container beside the checkpointed one
 * instead of refusing its id: the stopped source need not be removed inside the frozen window.
 * Podman itself does this for `restore --name`, which it refuses with `--tcp-established` only
 * because two copies of the connections must not live in one network namespace; ours go to
 * another pod. Only the two top-level fields change; every other byte stays.
 */
export function renameConfigDump(text: string, name: string, id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new RangeError(`"${id}" is not a 64-hex container id`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new RangeError(`"${name}" is not a container name`);
  }
  let out = text;
  for (const [key, value] of [["id", id], ["name", name]]) {
    const field = new RegExp(`^  "${key}": "[^"\\n]*",$`, "gm");
    const found = out.match(field)?.length ?? 0;
    if (found !== 1) {
      throw new Error(`${CONFIG_DUMP}: expected one top-level "${key}" field, found ${found}`);
    }
    out = out.replace(field, `  "${key}": "${value}",`);
  }
  return out;
}
