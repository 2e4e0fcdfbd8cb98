/**
 * The plugin's state in the lab's run directory: which pod holds which slot
 * (`cni/allocations.json`) and which pod must get which slot (`cni/reservations.json`). The
 * runtime may call the plugin for several pods at once, and the migration code reserves slots
 * while it does, so every read-modify-write happens under one exclusive lock (`cni/lock`), and
 * files are replaced atomically (temporary file + rename): a killed call never leaves half a file.
 *
 * @module
 */
import { UserError } from "../../errors.ts";
import { ensurePrivateDir } from "../../lab/paths.ts";
import {
  type Allocations,
  allocationsPath,
  cniDir,
  cniLockPath,
  cniLogPath,
  type Reservations,
  reservationsPath,
} from "./allocate.ts";
import { CNI_CODES, CniError } from "./args.ts";

/**
 * Runs `fn` holding the exclusive lock of the lab's CNI state (a `flock` on `cni/lock`, released
 * when `fn` settles or the process dies). Creates `cni/` (owner-only) when needed.
 */
export async function withCniLock<T>(runDir: string, fn: () => Promise<T>): Promise<T> {
  await ensurePrivateDir(cniDir(runDir));
  const file = await Deno.open(cniLockPath(runDir), { create: true, write: true, mode: 0o600 });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing releases the lock
  }
}

async function readJson<T extends object>(path: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {} as T;
    throw new CniError(CNI_CODES.ioFailure, `Cannot read ${path}: ${(err as Error).message}`, "", {
      cause: err,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    value = err;
  }
  if (
    typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Error
  ) {
    throw new CniError(
      CNI_CODES.decodeFailure,
      `${path} is not a JSON object of ${what}`,
      `fix or remove it (it is rewritten on the next change); \`deno task lab down\` removes it`,
    );
  }
  return value as T;
}

/** Writes JSON atomically: a temporary file beside it (0600), then a rename over it. */
async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n", { mode: 0o600 });
  await Deno.rename(tmp, path);
}

/** The slot allocations (empty when there are none yet). Call under {@link withCniLock}. */
export function readAllocations(runDir: string): Promise<Allocations> {
  return readJson<Allocations>(allocationsPath(runDir), "slot allocations");
}

/** Replaces the slot allocations. Call under {@link withCniLock}. */
export function writeAllocations(runDir: string, allocations: Allocations): Promise<void> {
  return writeJson(allocationsPath(runDir), allocations);
}

/** The slot reservations (empty when there are none). Call under {@link withCniLock}. */
export function readReservations(runDir: string): Promise<Reservations> {
  return readJson<Reservations>(reservationsPath(runDir), "slot reservations");
}

/** Replaces the slot reservations. Call under {@link withCniLock}. */
export function writeReservations(runDir: string, reservations: Reservations): Promise<void> {
  return writeJson(reservationsPath(runDir), reservations);
}

/**
 * Reserves slot `host` for the pod named `podName`: when that pod is created, the plugin gives it
 * this slot (its address and MAC) whatever its workload's pool says, and no other pod gets the
 * slot from a pool meanwhile. Call before creating the pod; release with
 * {@link releaseReservation} once the pod is gone or no longer needs it.
 *
 * ```ts
 * await reserveSlot(lab.runDir!, "server-restored", "h3");
 * ```
 *
 * @throws {UserError} when another pod holds the slot or has it reserved.
 */
export async function reserveSlot(runDir: string, podName: string, host: string): Promise<void> {
  await withCniLock(runDir, async () => {
    const reservations = await readReservations(runDir);
    const other = Object.entries(reservations).find(([p, h]) => h === host && p !== podName);
    if (other) {
      throw new UserError(`Slot ${host} is already reserved for pod ${other[0]}`, {
        hint: `release that reservation first, or reserve another slot for ${podName}`,
      });
    }
    const holder = (await readAllocations(runDir))[host];
    if (holder && holder.pod !== podName) {
      throw new UserError(`Slot ${host} is held by pod ${holder.pod}`, {
        hint: `choose a free slot for ${podName}, or delete pod ${holder.pod} first`,
      });
    }
    if (reservations[podName] === host) return;
    await writeReservations(runDir, { ...reservations, [podName]: host });
  });
}

/**
 * Drops the reservation of the pod named `podName` (the slot it holds, if any, stays its own
 * until the pod is deleted). Returns the slot that was reserved, or undefined when none was.
 */
export async function releaseReservation(
  runDir: string,
  podName: string,
): Promise<string | undefined> {
  return await withCniLock(runDir, async () => {
    const reservations = await readReservations(runDir);
    const host = reservations[podName];
    if (host === undefined) return undefined;
    const { [podName]: _gone, ...rest } = reservations;
    await writeReservations(runDir, rest);
    return host;
  });
}

/** Appends one line to `cni/cni.log` (creating `cni/` if needed). */
export async function appendCniLog(runDir: string, line: string): Promise<void> {
  await ensurePrivateDir(cniDir(runDir));
  await Deno.writeTextFile(cniLogPath(runDir), line.endsWith("\n") ? line : `${line}\n`, {
    append: true,
    mode: 0o600,
  });
}
