/**
 * The loopback-only bind shim for BMv2 (`lab/bmv2/loopback_only.c`): BMv2's Thrift server has no
 * bind-address option and listens on every address; preloaded, the shim binds it to loopback.
 * Built on first use into `.run/bin/`, rebuilt when the source is newer.
 *
 * ```ts
 * const env = await loopbackOnlyEnv();
 * // env = { LD_PRELOAD: "/…/.run/bin/loopback_only.so" }
 * ```
 *
 * @module
 */
import { which } from "../capabilities.ts";
import { MissingCapabilityError } from "../errors.ts";
import { repoRoot } from "../lab/paths.ts";
import { defaultShell, type Shell } from "../shell.ts";

/** Source and output of the shim under a repository root. */
export function loopbackShimPaths(root: string = repoRoot()) {
  return {
    source: `${root}/lab/bmv2/loopback_only.c`,
    output: `${root}/.run/bin/loopback_only.so`,
  };
}

/** The compiler argv for the shim (pure). */
export function loopbackShimCompileArgv(source: string, output: string, cc = "gcc"): string[] {
  return [cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-o", output, source, "-ldl"];
}

const mtime = (path: string) => Deno.stat(path).then((s) => s.mtime?.getTime() ?? 0, () => -1);

/** Builds the shim when missing or stale; returns its path. */
export async function ensureLoopbackShim(
  options: { shell?: Shell; root?: string } = {},
): Promise<string> {
  const { source, output } = loopbackShimPaths(options.root);
  const built = await mtime(output);
  if (built >= 0 && built >= await mtime(source)) return output;
  if (!options.shell && !which("gcc")) {
    throw new MissingCapabilityError(
      "Cannot build lab/bmv2/loopback_only.c: gcc is not installed",
      {
        hint: "run `bash lab/provision.sh` as root (it installs gcc)",
      },
    );
  }
  await Deno.mkdir(output.slice(0, output.lastIndexOf("/")), { recursive: true });
  const tmp = `${output}.tmp-${Deno.pid}`;
  try {
    await (options.shell ?? defaultShell).run(loopbackShimCompileArgv(source, tmp));
    await Deno.rename(tmp, output);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  return output;
}

/** Environment that makes a BMv2 process listen on loopback only. */
export async function loopbackOnlyEnv(
  options: { shell?: Shell; root?: string } = {},
): Promise<Record<string, string>> {
  return { LD_PRELOAD: await ensureLoopbackShim(options) };
}
