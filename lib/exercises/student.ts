/**
 * Who is running an exercise check, and the lab identity each student gets: one machine serves a
 * whole class, so every student's exercise labs need their own name, id (the prefix of every
 * namespace, interface, pod and nftables table) and switch ports.
 *
 * A student is a key: `--student <id>`, else the user behind `sudo` (`SUDO_USER`), else the login
 * name. Each key gets a small number, its *seat*, claimed once in a machine-wide directory
 * (`/run/p4containerflow/students/<seat>.json`, created exclusively, so two students never get the
 * same seat). The seat gives the ids (`e<n><seat>`, e.g. `e3007`) and a block of twelve switch ports
 * below Linux's ephemeral range; a student's six exercises never share a port with another's.
 *
 * ```ts
 * const student = await claimSeat(studentKey({ option: "alice" }));
 * const identity = exerciseIdentity(findExercise(3), student); // exercise-3-alice, e3007, ...
 * ```
 *
 * @module
 */
import { fnv1a } from "../hash.ts";
import { UserError } from "../errors.ts";
import { ensurePrivateDir } from "../lab/paths.ts";
import type { Exercise } from "./catalog.ts";
import type { LabIdentity } from "./lab_identity.ts";

/** Where seats are claimed; `/run` is emptied at boot, like the labs. */
export const SEATS_DIR = "/run/p4containerflow/students";

/** Seats available: each takes {@link PORTS_PER_SEAT} ports from {@link SEAT_PORT_BASE}. */
export const SEAT_COUNT = 790;

/** First switch port of seat 0 (well-known services stay below, the lab defaults above). */
export const SEAT_PORT_BASE = 12000;

/** Two ports (P4Runtime, Thrift) for each of the six exercises. */
export const PORTS_PER_SEAT = 12;

/** Student keys: a login name or an id an instructor hands out. */
export const STUDENT_KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** A student with a seat. */
export interface Student {
  key: string;
  seat: number;
}

/**
 * The student key: the option when given, else the user behind sudo, else the login name.
 *
 * @throws {UserError} for a key that cannot name a lab.
 */
export function studentKey(
  options: { option?: string; env?: (name: string) => string | undefined } = {},
): string {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const sudoUser = env("SUDO_USER");
  const key = options.option ??
    (sudoUser && sudoUser !== "root" ? sudoUser : undefined) ??
    env("USER") ?? env("LOGNAME") ?? "root";
  if (!STUDENT_KEY_PATTERN.test(key)) {
    throw new UserError(`"${key}" cannot be a student id`, {
      hint: "use letters, digits, dots, dashes or underscores (at most 32), e.g. --student s07",
    });
  }
  return key;
}

/** The key as lab-name words: `Alice.Smith` -> `alice-smith` (at most 21 characters). */
export function studentSlug(key: string): string {
  const words = key.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  const slug = words.join("-").slice(0, 21).replace(/-+$/, "");
  return slug || "student";
}

/** FNV-1a of the key: where the search for a free seat starts. */
export function preferredSeat(key: string): number {
  return fnv1a(key) % SEAT_COUNT;
}

/** The ten switch ports of a seat. */
export function seatPorts(seat: number): number[] {
  const base = SEAT_PORT_BASE + seat * PORTS_PER_SEAT;
  return Array.from({ length: PORTS_PER_SEAT }, (_, i) => base + i);
}

/** Name, id and switch ports of exercise `ex`'s lab for `student`. */
export function exerciseIdentity(ex: Exercise, student: Student): LabIdentity {
  const grpcPort = SEAT_PORT_BASE + student.seat * PORTS_PER_SEAT + (ex.number - 1) * 2;
  return {
    name: `exercise-${ex.number}-${studentSlug(student.key)}`,
    id: `e${ex.number}${String(student.seat).padStart(3, "0")}`,
    grpcPort,
    thriftPort: grpcPort + 1,
  };
}

interface SeatFile {
  student: string;
  since: string;
}

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

async function readSeat(dir: string, seat: number): Promise<SeatFile | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/${seat}.json`)) as SeatFile;
  } catch {
    return undefined;
  }
}

/**
 * The student's seat: the one claimed earlier, else the first free seat from
 * {@link preferredSeat} on whose ports nothing listens, claimed atomically.
 *
 * @throws {UserError} when every seat is taken.
 */
export async function claimSeat(key: string, options: { dir?: string } = {}): Promise<Student> {
  const dir = options.dir ?? SEATS_DIR;
  await ensurePrivateDir(dir);
  for await (const e of Deno.readDir(dir)) {
    const m = /^(\d+)\.json$/.exec(e.name);
    if (m && (await readSeat(dir, Number(m[1])))?.student === key) {
      return { key, seat: Number(m[1]) };
    }
  }
  const start = preferredSeat(key);
  for (let i = 0; i < SEAT_COUNT; i++) {
    const seat = (start + i) % SEAT_COUNT;
    if (!seatPorts(seat).every(portFree)) continue;
    try {
      const file = await Deno.open(`${dir}/${seat}.json`, { write: true, createNew: true });
      const body: SeatFile = { student: key, since: new Date().toISOString() };
      await file.write(new TextEncoder().encode(JSON.stringify(body) + "\n"));
      file.close();
      return { key, seat };
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) {
        // Taken meanwhile, maybe by this very student in another terminal.
        if ((await readSeat(dir, seat))?.student === key) return { key, seat };
        continue;
      }
      throw err;
    }
  }
  throw new UserError(`All ${SEAT_COUNT} student seats of this machine are taken (${dir})`, {
    hint: "remove the seats of students who are done (one file each), or reboot",
  });
}

/** Gives a seat back (tests, and instructors clearing a class). Returns whether it was held. */
export async function releaseSeat(key: string, options: { dir?: string } = {}): Promise<boolean> {
  const dir = options.dir ?? SEATS_DIR;
  let released = false;
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = /^(\d+)\.json$/.exec(e.name);
      if (m && (await readSeat(dir, Number(m[1])))?.student === key) {
        await Deno.remove(`${dir}/${e.name}`).catch(() => {});
        released = true;
      }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return released;
}
