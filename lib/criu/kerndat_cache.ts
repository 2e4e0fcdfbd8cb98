/**
 * CRIU's cache of what the kernel supports (`/run/criu.kdat`), kept where CRIU cannot keep it.
 *
 * Every CRIU run starts by probing the kernel (vDSO layout, memory tracking, namespaces, nftables,
 * ...) unless it finds that cache. CRIU writes the cache only when `/run` is a tmpfs, so that a
 * reboot clears it; on machines whose `/run` is an ordinary directory (containers, some VMs, this
 * project's CI machines) it probes every time. Measured here under load: 75-340 ms from starting
 * `criu dump` to seizing the task without the cache, 3-18 ms with it. That time is inside the
 * frozen window twice per migration (dump and restore; for containers too, as runc runs CRIU).
 *
 * {@link ensureKerndatCache} has CRIU write the cache in a private mount namespace whose `/run` is
 * a tmpfs, and installs it at CRIU's path beside a stamp (`criu.kdat.p4cf`) naming the boot, the
 * kernel and the criu binary it was made for. A cache whose stamp no longer matches is made again
 * (CRIU itself checks only the file's size and magic numbers), and without a stamp we never touch
 * a cache CRIU wrote itself.
 *
 * @module
 */
import { criuBinary } from "../capabilities.ts";
import { defaultShell, type Shell } from "../shell.ts";

/** Where CRIU 4.x looks for the cache (criu/include/kerndat.h, KERNDAT_CACHE_FILE). */
export const KERNDAT_CACHE_FILE = "/run/criu.kdat";

/** The stamp beside a cache we installed. */
export function kerndatStampPath(cacheFile = KERNDAT_CACHE_FILE): string {
  return `${cacheFile}.p4cf`;
}

/** What {@link ensureKerndatCache} found or did. */
export type KerndatCacheState =
  /** `/run` is a tmpfs: CRIU keeps the cache itself. */
  | "criu-managed"
  /** A cache we installed for this boot, kernel and binary is in place. */
  | "present"
  /** The cache was (re)made now. */
  | "created";

/** The filesystem type of the mount holding `path`, from a mountinfo text. */
export function mountFsType(mountinfo: string, path: string): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const point = left.split(" ")[4]?.replace(/\\040/g, " ");
    const type = right.split(" ")[0];
    if (!point || !type) continue;
    const under = point === "/" || path === point || path.startsWith(`${point}/`);
    // The last mount of the longest matching point is the one on top.
    if (under && (!best || point.length >= best.point.length)) best = { point, type };
  }
  return best?.type;
}

/** The stamp's text: boot id, kernel release, criu binary (path, size, mtime). */
export async function kerndatStamp(criu: string): Promise<string> {
  const read = (f: string) => Deno.readTextFile(f).then((t) => t.trim(), () => "");
  const st = await Deno.stat(criu);
  return [
    `boot ${await read("/proc/sys/kernel/random/boot_id")}`,
    `kernel ${await read("/proc/sys/kernel/osrelease")}`,
    `criu ${criu} ${st.size} ${st.mtime?.getTime() ?? 0}`,
  ].join("\n") + "\n";
}

export interface KerndatCacheOptions {
  shell?: Shell;
  /** criu binary (default: criuBinary()). */
  criu?: string;
  /** Cache path (default {@link KERNDAT_CACHE_FILE}; tests use their own). */
  cacheFile?: string;
  /** The mountinfo to judge `/run` by (default /proc/self/mountinfo). */
  mountinfo?: string;
}

/**
 * Makes sure CRIU finds its kernel cache: a no-op when `/run` is a tmpfs or our stamped cache is
 * current (two small reads), otherwise one `criu check` in a private mount namespace (~0.3-1 s,
 * once per boot). Call it before the frozen window. Throws when CRIU wrote no cache.
 */
export async function ensureKerndatCache(
  options: KerndatCacheOptions = {},
): Promise<KerndatCacheState> {
  const cacheFile = options.cacheFile ?? KERNDAT_CACHE_FILE;
  const dir = cacheFile.slice(0, cacheFile.lastIndexOf("/")) || "/";
  const mountinfo = options.mountinfo ??
    await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
  if (mountFsType(mountinfo, dir) === "tmpfs") return "criu-managed";
  const criu = options.criu ?? criuBinary();
  if (!criu) throw new Error("CRIU is not installed: no kernel cache to make");
  const stamp = await kerndatStamp(criu);
  const stampFile = kerndatStampPath(cacheFile);
  const current = await Deno.readTextFile(stampFile).catch(() => "");
  const cached = await Deno.stat(cacheFile).then((s) => s.isFile && s.size > 0, () => false);
  if (cached && current === stamp) return "present";
  if (cached && !current) {
    // A cache CRIU (or someone) put there without our stamp: CRIU's own; leave it be.
    return "criu-managed";
  }
  const shell = options.shell ?? defaultShell;
  // Outside /run, which the tmpfs covers in CRIU's mount namespace.
  const work = await Deno.makeTempDir({ prefix: "p4cf-kdat-" });
  const staged = `${cacheFile}.p4cf-${Deno.pid}`;
  try {
    // CRIU saves the cache only on a tmpfs: give it one, in a mount namespace of its own, and
    // copy the file out through the working directory.
    const script = [
      `mount -t tmpfs -o size=1m,mode=0755 p4cf-kdat /run`,
      `"$0" check --feature mnt_id >/dev/null 2>&1`,
      `cp /run/criu.kdat "$1"/criu.kdat`,
    ].join(" && ");
    const r = await shell.run(
      ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, criu, work],
      { check: false, timeoutMs: 30_000 },
    );
    const made = `${work}/criu.kdat`;
    if (r.code !== 0 || !(await Deno.stat(made).then((s) => s.size > 0, () => false))) {
      throw new Error(
        `criu check wrote no kernel cache (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`,
      );
    }
    // Renamed within one filesystem: CRIU never reads a half-written cache.
    await Deno.copyFile(made, staged);
    await Deno.chmod(staged, 0o600);
    await Deno.rename(staged, cacheFile);
    await Deno.writeTextFile(stampFile, stamp, { mode: 0o600 });
    return "created";
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await Deno.remove(staged).catch(() => {});
  }
}
