/**
 * CRIU's post-copy page server sizes its pipe to PIPE_MAX_SIZE pages (819 at 4 KiB: 3.2 MiB),
 * above Linux's default `fs.pipe-max-size` (1 MiB), which only CAP_SYS_RESOURCE may exceed.
 * Without that capability (root in some containers) CRIU 4.2 ignores the failure and serves no
 * page at all (`splice: Bad file descriptor`). A post-copy migration then raises the limit for its
 * duration and puts the old value back; the old value is recorded in the lab's run directory
 * first, so `lab down` puts it back after a migration that was killed.
 *
 * @module
 */

/** What CRIU's lazy page server asks for, rounded up to what Linux grants (a power of two). */
export const CRIU_PIPE_BYTES = 4 * 1024 * 1024;

const PIPE_MAX_SIZE = "/proc/sys/fs/pipe-max-size";

/** CAP_SYS_RESOURCE in an effective capability mask (`CapEff` of /proc/<pid>/status). */
export function hasSysResource(capEffHex: string): boolean {
  return ((BigInt(`0x${capEffHex.trim() || "0"}`) >> 24n) & 1n) === 1n;
}

/** Where the value before a raise is kept (a file in the lab's machines directory). */
export function pipeSizeRecord(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/machines/pipe-max-size.orig`;
}

async function readLimit(): Promise<number> {
  return Number((await Deno.readTextFile(PIPE_MAX_SIZE).catch(() => "0")).trim());
}

/**
 * Puts back the value recorded in `runDir` when the limit is still ours (someone may have changed
 * it meanwhile), and forgets the record. Returns whether it changed the limit.
 */
export async function restorePipeSize(runDir: string): Promise<boolean> {
  const record = pipeSizeRecord(runDir);
  const original = Number((await Deno.readTextFile(record).catch(() => "")).trim());
  if (!(original > 0)) return false;
  const ours = await readLimit() === CRIU_PIPE_BYTES;
  if (ours) await Deno.writeTextFile(PIPE_MAX_SIZE, String(original));
  await Deno.remove(record).catch(() => {});
  return ours;
}

/**
 * Makes sure CRIU may size its pipes: raises `fs.pipe-max-size` to {@link CRIU_PIPE_BYTES} when
 * it is lower and CRIU lacks CAP_SYS_RESOURCE, recording the old value in `runDir` first.
 * Returns a note (undefined: nothing changed) and the undo.
 */
export async function ensureCriuPipeSize(
  runDir: string,
): Promise<{ note?: string; undo(): Promise<void> }> {
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0";
  const current = await readLimit();
  if (hasSysResource(capEff) || !(current > 0) || current >= CRIU_PIPE_BYTES) {
    return { undo: () => Promise.resolve() };
  }
  await Deno.writeTextFile(pipeSizeRecord(runDir), `${current}\n`);
  await Deno.writeTextFile(PIPE_MAX_SIZE, String(CRIU_PIPE_BYTES));
  return {
    note: `fs.pipe-max-size ${current} -> ${CRIU_PIPE_BYTES} while it runs (no CAP_SYS_RESOURCE)`,
    undo: async () => {
      await restorePipeSize(runDir);
    },
  };
}
