/**
 * Container images built offline from binaries installed on this machine: `FROM scratch`, the
 * binaries, and the shared libraries `ldd` says they load. No registry is needed, so the same
 * code builds the workload images (static counter server, Redis) and the BMv2 switch image.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { Shell } from "../shell.ts";

export interface HostImageSpec {
  /** Image reference, e.g. `localhost/p4cf-counter-server:latest`. */
  tag: string;
  /** Absolute paths of binaries to copy; each keeps its path inside the image. */
  binaries: string[];
  /** Extra files or directories copied to the same path (config, share/). */
  extraPaths?: string[];
  /** Directories created empty in the image (e.g. /tmp, /data). */
  emptyDirs?: string[];
  entrypoint: string[];
  /** Labels, e.g. { "p4cf.image": "counter-server" }. */
  labels?: Record<string, string>;
}

/** Parses `ldd` output into the absolute paths of the libraries (including the loader). */
export function parseLdd(output: string): string[] {
  const paths = new Set<string>();
  for (const line of output.split("\n")) {
    const arrow = /=>\s*(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) paths.add(path);
  }
  return [...paths].sort();
}

/** The Containerfile for a spec whose files sit in the build context under `rootfs/`. */
export function containerfile(spec: HostImageSpec): string {
  const lines = ["FROM scratch", "COPY rootfs/ /"];
  for (const [k, v] of Object.entries(spec.labels ?? {})) {
    lines.push(`LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`);
  }
  lines.push(`ENTRYPOINT ${JSON.stringify(spec.entrypoint)}`);
  return lines.join("\n") + "\n";
}

/** True when the image exists locally. */
export async function imageExists(shell: Shell, tag: string): Promise<boolean> {
  const r = await shell.run(["podman", "image", "exists", tag], { check: false });
  return r.code === 0;
}

/**
 * Builds the image unless it exists (pass `rebuild` to force). Returns whether it was built.
 * Libraries are found with `ldd`, so a binary that is not dynamically linked needs nothing else.
 */
export async function buildHostImage(
  shell: Shell,
  spec: HostImageSpec,
  options: { rebuild?: boolean } = {},
): Promise<boolean> {
  if (!options.rebuild && await imageExists(shell, spec.tag)) return false;
  for (const bin of spec.binaries) {
    try {
      await Deno.stat(bin);
    } catch {
      throw new UserError(`Cannot build image ${spec.tag}: ${bin} does not exist`, {
        hint: "run `sudo bash lab/provision.sh` (or `deno task build`) to install or build it",
      });
    }
  }
  const context = await Deno.makeTempDir({ prefix: "p4cf-image-" });
  try {
    const files = new Set<string>(spec.binaries);
    for (const bin of spec.binaries) {
      const ldd = await shell.run(["ldd", bin], { check: false });
      for (const lib of parseLdd(ldd.stdout)) files.add(lib);
    }
    for (const extra of spec.extraPaths ?? []) files.add(extra);
    const rootfs = `${context}/rootfs`;
    for (const dir of spec.emptyDirs ?? []) {
      await Deno.mkdir(`${rootfs}${dir}`, { recursive: true });
    }
    for (const file of [...files].sort()) {
      const dest = `${rootfs}${file}`;
      await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
      // -L: libraries are often symlinks; the image needs the real bytes under the linked name.
      await shell.run(["cp", "-aL", file, dest]);
    }
    await Deno.writeTextFile(`${context}/Containerfile`, containerfile(spec));
    await shell.run([
      "podman",
      "build",
      "--quiet",
      "-t",
      spec.tag,
      "-f",
      `${context}/Containerfile`,
      context,
    ]);
    return true;
  } finally {
    await Deno.remove(context, { recursive: true }).catch(() => {});
  }
}
