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

/**
 * `podman create` for the container a migration restores into, built from the source's
 * `CreateCommand` (what `podman inspect` records of the `podman run`/`create` that made it) with
 * the temporary name and the target pod: the same image, command, annotations (the CRIU
 * configuration's) and log path, so the restore need not import a container from the archive
 * inside the frozen window. Undefined when the command is not one this can follow faithfully (no
 * `run`/`create`, no `--name` or `--pod`, `--rm`): the migration then imports as before.
 */
export function prepareTargetArgv(
  createCommand: readonly string[],
  name: string,
  podId: string,
): string[] | undefined {
  const verb = createCommand.findIndex((a) => a === "run" || a === "create");
  if (verb < 1 || !/(^|\/)podman$/.test(createCommand[0])) return undefined;
  const out = ["podman", "create"];
  const set = { name: false, pod: false };
  for (let i = verb + 1; i < createCommand.length; i++) {
    const arg = createCommand[i];
    if (arg === "--detach" || arg === "-d" || arg === "--detach=true") continue;
    if (arg === "--rm" || arg.startsWith("--rm=") || arg === "--replace") return undefined;
    const flag = /^--(name|pod)(=.*)?$/.exec(arg)?.[1] as "name" | "pod" | undefined;
    if (flag && !set[flag]) {
      set[flag] = true;
      out.push(`--${flag}`, flag === "name" ? name : podId);
      if (!arg.includes("=")) i++;
      continue;
    }
    out.push(arg);
  }
  return set.name && set.pod ? out : undefined;
}

/**
 * Makes Podman write the prepared container's OCI bundle (`config.json`, the pod's namespaces,
 * its rootfs) and stop it again without its command ever running: Podman restores a stopped
 * container from the images in its own directory (`podman container restore <name>`), not one
 * that was never initialised.
 */
export function prepareTargetSteps(name: string): string[][] {
  return [
    ["podman", "init", name],
    ["podman", "stop", "--time", "0", name],
  ];
}

/** What the migration needs to know of a container's storage, from one `podman inspect`. */
export const STORAGE_FORMAT =
  "{{.Id}} {{.StaticDir}} {{.GraphDriver.Data.UpperDir}} {{.GraphDriver.Data.LowerDir}}";

export interface ContainerStorage {
  id: string;
  /** Podman's directory of the container (its OCI bundle; CRIU's images in `checkpoint/`). */
  bundle: string;
  /** The overlay upper directory: the container's changes to its image. */
  upper: string;
  /** The image's layers under it, top first. */
  lower: string[];
}

/** Parses `podman inspect --format STORAGE_FORMAT`; undefined when a field is missing. */
export function parseStorage(stdout: string): ContainerStorage | undefined {
  const [id, bundle, upper, lower] = stdout.trim().split(" ");
  if (!/^[0-9a-f]{64}$/.test(id ?? "") || !bundle?.startsWith("/") || !upper?.startsWith("/")) {
    return undefined;
  }
  const layers = (lower ?? "").split(":").filter((l) => l.startsWith("/"));
  return { id, bundle, upper, lower: layers };
}

/**
 * `podman container restore` of a prepared container from the images in its own directory: no
 * archive to unpack, no container to create, only Podman's own checks, the mount and runc.
 */
export function restorePreparedArgv(container: string): string[] {
  return ["podman", "container", "restore", "--tcp-established", container];
}

/**
 * Copies a container's overlay upper directory (its changed files, and the whiteout devices and
 * opaque-directory attributes of what it deleted) over another's, which must not be mounted.
 */
export function copyRootfsChangesArgv(fromUpper: string, toUpper: string): string[] {
  return ["cp", "-a", `${fromUpper}/.`, `${toUpper}/`];
}

/**
 * A listing of an overlay upper directory that changes whenever anything in it does (an entry
 * added, removed or replaced, a file written, its mode or attributes changed): path, type, inode,
 * mode, size, and for all but directories mtime and ctime. Equal listings before and after the
 * freeze mean the copy made before it ({@link copyRootfsChangesArgv}) is still whole.
 * Directories' times are left out: CRIU's dump creates and removes a temporary directory in the
 * container's /tmp, and what a directory's times would tell is in its entries' lines (a directory
 * deleted and made again, opaque then, is a new inode).
 */
export async function upperDirListing(dir: string): Promise<string> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(`${dir}${rel}`)) entries.push(e);
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const e of entries) {
      const path = `${rel}/${e.name}`;
      const s = await Deno.lstat(`${dir}${path}`);
      const type = s.isDirectory ? "d" : s.isSymlink ? "l" : s.isFile ? "f" : "o";
      const times = s.isDirectory ? [] : [s.mtime?.getTime(), s.ctime?.getTime()];
      lines.push([path, type, s.ino, s.mode, s.size, ...times].join(" "));
      if (s.isDirectory) await walk(path);
    }
  };
  const root = await Deno.lstat(dir);
  lines.push(["/", root.ino, root.mode].join(" "));
  await walk("");
  return lines.join("\n");
}

/**
 * How a later {@link upperDirListing} differs from an earlier one: the entries that appeared
 * (paths and types) and whether anything else changed (an entry removed or altered).
 */
export function listingChanges(
  before: string,
  after: string,
): { added: { path: string; type: string }[]; altered: boolean } {
  const parse = (text: string) =>
    new Map(text.split("\n").map((line) => [line.slice(0, line.indexOf(" ")), line]));
  const was = parse(before);
  const now = parse(after);
  const added: { path: string; type: string }[] = [];
  let altered = false;
  for (const [path, line] of now) {
    const old = was.get(path);
    if (old === undefined) added.push({ path, type: line.split(" ")[1] });
    else if (old !== line) altered = true;
  }
  for (const path of was.keys()) if (!now.has(path)) altered = true;
  return { added, altered };
}
