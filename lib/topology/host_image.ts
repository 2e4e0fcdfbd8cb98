/**
 * Container images built FROM scratch out of binaries installed on this machine plus the shared
 * libraries `ldd` says they need (no registry is needed). Used for the BMv2 switch image; works
 * for any dynamically linked program (e.g. Debian's redis-server).
 *
 * @module
 */
import { which } from "../capabilities.ts";
import { MissingCapabilityError } from "../errors.ts";
import { type Progress, silentProgress } from "../progress.ts";
import type { Shell } from "../shell.ts";

/** Label holding the hash of the files an image was built from (rebuild when it changes). */
export const IMAGE_HASH_LABEL = "p4cf.image.hash";

export interface HostImageSpec {
  /** Image name, e.g. `localhost/p4cf-bmv2:latest`. */
  tag: string;
  /** Absolute paths of the programs to include; copied to the same paths in the image. */
  binaries: string[];
  /** ENTRYPOINT (default: the first binary). */
  entrypoint?: string[];
  /** Empty directories to create (e.g. `/tmp`). */
  dirs?: string[];
  labels?: Record<string, string>;
  /** Copy binaries and libraries without debug information (`strip --strip-debug`), if available. */
  stripDebug?: boolean;
}

/**
 * Library paths in `ldd` output (`libx.so => /path (0x...)` and the loader `/lib64/ld... (0x..)`).
 *
 * @throws {MissingCapabilityError} when a library is `not found`.
 */
export function parseLdd(output: string, binary: string): string[] {
  const paths: string[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    if (
      !line || line.includes("not a dynamic executable") || line.startsWith("statically linked")
    ) {
      continue;
    }
    const arrow = /^(\S+) => (.*?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      if (arrow[2] === "not found") {
        throw new MissingCapabilityError(`${binary} needs ${arrow[1]}, which is not installed`, {
          hint: "install the library (or rebuild the program), then try again",
        });
      }
      if (arrow[2].startsWith("/")) paths.push(arrow[2]);
      continue;
    }
    const direct = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (direct) paths.push(direct[1]);
  }
  return paths;
}

/** The binaries and every shared library they load, sorted and without duplicates. */
export async function imageFiles(shell: Shell, binaries: readonly string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const binary of binaries) {
    files.add(binary);
    const out = await shell.run(["ldd", binary], { check: false });
    for (const lib of parseLdd(`${out.stdout}\n${out.stderr}`, binary)) files.add(lib);
  }
  return [...files].sort();
}

/** Hash of the files' paths, sizes and modification times (cheap; changes on reinstall). */
export async function filesHash(files: readonly string[], extra = ""): Promise<string> {
  const parts = [extra];
  for (const f of files) {
    const st = await Deno.stat(f);
    parts.push(`${f}\t${st.size}\t${st.mtime?.getTime() ?? 0}`);
  }
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\n")));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("").slice(
    0,
    16,
  );
}

/** The Containerfile of a host image whose files are under `rootfs/` in the build context. */
export function containerfile(spec: HostImageSpec, files: readonly string[], hash: string): string {
  const libDirs = [
    ...new Set(files.filter((f) => f !== spec.binaries[0]).map((f) => f.replace(/\/[^/]+$/, ""))),
  ]
    .sort();
  const labels = { ...spec.labels, [IMAGE_HASH_LABEL]: hash };
  const entrypoint = spec.entrypoint ?? [spec.binaries[0]];
  return [
    "FROM scratch",
    "COPY rootfs/ /",
    // Libraries from /usr/local/lib are not on the loader's default path and there is no
    // ld.so.cache in the image.
    `ENV LD_LIBRARY_PATH=${libDirs.join(":")}`,
    ...Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
    `ENTRYPOINT ${JSON.stringify(entrypoint)}`,
    "",
  ].join("\n");
}

/** The hash label of an existing image, or undefined when there is no such image. */
export async function existingImageHash(
  shell: Shell,
  tag: string,
  podman: readonly string[] = ["podman"],
): Promise<string | undefined> {
  const out = await shell.run(
    [...podman, "image", "inspect", "--format", `{{index .Labels "${IMAGE_HASH_LABEL}"}}`, tag],
    { check: false },
  );
  return out.code === 0 ? out.stdout.trim() : undefined;
}

/**
 * Builds the image unless one with the same tag was built from the same files. Returns whether
 * it built.
 */
export async function buildHostImage(
  shell: Shell,
  spec: HostImageSpec,
  progress: Progress = silentProgress,
  /** The podman command (e.g. with `--root`/`--runroot` of a CRI-O's own storage). */
  podman: readonly string[] = ["podman"],
): Promise<{ tag: string; built: boolean; hash: string }> {
  for (const b of spec.binaries) {
    if (!b.startsWith("/")) throw new Error(`Image ${spec.tag}: binary path ${b} is not absolute`);
  }
  const files = await imageFiles(shell, spec.binaries);
  const hash = await filesHash(files, JSON.stringify(spec));
  if (await existingImageHash(shell, spec.tag, podman) === hash) {
    return { tag: spec.tag, built: false, hash };
  }
  const done = progress.step(
    `image ${spec.tag}: ${spec.binaries.join(", ")} + ${
      files.length - spec.binaries.length
    } libraries`,
  );
  const ctx = await Deno.makeTempDir({ prefix: "p4cf-image-" });
  const strip = spec.stripDebug && which("strip") ? "strip" : undefined;
  try {
    for (const f of files) {
      const target = `${ctx}/rootfs${f}`;
      await Deno.mkdir(target.replace(/\/[^/]+$/, ""), { recursive: true });
      // Both follow symlinks: the image gets the real file under the name the loader asks for.
      if (strip) await shell.run([strip, "--strip-debug", "-o", target, f]);
      else await Deno.copyFile(f, target);
      await Deno.chmod(target, (await Deno.stat(f)).mode! & 0o777);
    }
    for (const d of spec.dirs ?? []) {
      await Deno.mkdir(`${ctx}/rootfs${d}`, { recursive: true, mode: 0o1777 });
    }
    await Deno.writeTextFile(`${ctx}/Containerfile`, containerfile(spec, files, hash));
    await shell.run([
      ...podman,
      "build",
      "--quiet",
      "--tag",
      spec.tag,
      "--file",
      `${ctx}/Containerfile`,
      ctx,
    ]);
  } finally {
    await Deno.remove(ctx, { recursive: true }).catch(() => {});
  }
  done("built");
  return { tag: spec.tag, built: true, hash };
}
