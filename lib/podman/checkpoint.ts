/**
 * Argv for Podman's checkpoint/restore of a container with established TCP connections.
 *
 * The archive is uncompressed so the socket addresses inside it can be rewritten in place
 * (lib/podman/tar.ts) without a decompress/compress round trip in the frozen window. Podman
 * refuses `--name` together with `--tcp-established` on restore, so the restored container keeps
 * the checkpointed name; the source container must be removed before the import.
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
