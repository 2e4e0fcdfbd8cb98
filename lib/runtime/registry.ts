/**
 * The machine-wide lab registry (`/run/p4containerflow/labs/<id>.json`): which checkout owns a
 * lab id. Everything a lab creates is named after its id, so two checkouts of the project (or a
 * copy of a lab file) bringing up the same id would fight over the same namespaces, and one's
 * `down` would sweep the other's lab. `up` claims the id, `down` releases it, and both refuse
 * when another checkout owns it (unless forced). An entry whose run directory holds no lab
 * state any more is stale and taken over. `/run` is emptied at boot, as are the labs.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import { ensurePrivateDir } from "../lab/paths.ts";

/** Default registry directory. */
export const REGISTRY_DIR = "/run/p4containerflow/labs";

export interface RegistryEntry {
  lab: string;
  id: string;
  /** The owning checkout's run directory of the lab. */
  runDir: string;
  since: string;
}

export interface RegistryOptions {
  /** Registry directory (default {@link REGISTRY_DIR}; tests use a temporary one). */
  dir?: string;
  /** Take the lab over from another checkout. */
  force?: boolean;
}

function entryPath(dir: string, id: string): string {
  return `${dir}/${id}.json`;
}

/** The registered owner of a lab id, if any and not stale. */
export async function labOwner(
  id: string,
  options: Pick<RegistryOptions, "dir"> = {},
): Promise<RegistryEntry | undefined> {
  const dir = options.dir ?? REGISTRY_DIR;
  let entry: RegistryEntry;
  try {
    entry = JSON.parse(await Deno.readTextFile(entryPath(dir, id)));
  } catch {
    return undefined;
  }
  const live = await Deno.stat(`${entry.runDir}/state.json`).then(() => true, () => false);
  return live ? entry : undefined;
}

/** Throws when another run directory owns the lab id (unless forced). */
export async function assertNotForeign(
  lab: { name: string; id: string; runDir: string },
  verb: "up" | "down",
  options: RegistryOptions = {},
): Promise<void> {
  if (options.force) return;
  const owner = await labOwner(lab.id, options);
  if (!owner || owner.runDir === lab.runDir) return;
  throw new UserError(
    `Cannot ${verb} lab ${lab.name}: lab id "${lab.id}" is in use by ${owner.lab} of another ` +
      `checkout (run directory ${owner.runDir}, since ${owner.since})`,
    {
      hint: `run \`deno task lab ${verb}\` from that checkout, or add --force to take it over`,
    },
  );
}

/** Registers this run directory as the owner of the lab id. */
export async function claimLab(
  lab: { name: string; id: string; runDir: string },
  options: RegistryOptions = {},
): Promise<void> {
  await assertNotForeign(lab, "up", options);
  const dir = options.dir ?? REGISTRY_DIR;
  await ensurePrivateDir(dir);
  const entry: RegistryEntry = {
    lab: lab.name,
    id: lab.id,
    runDir: lab.runDir,
    since: new Date().toISOString(),
  };
  const tmp = `${entryPath(dir, lab.id)}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(entry, null, 2) + "\n");
  await Deno.rename(tmp, entryPath(dir, lab.id));
}

/** Removes the registration when this run directory holds it. */
export async function releaseLab(
  lab: { id: string; runDir: string },
  options: Pick<RegistryOptions, "dir"> = {},
): Promise<void> {
  const path = entryPath(options.dir ?? REGISTRY_DIR, lab.id);
  try {
    const entry = JSON.parse(await Deno.readTextFile(path)) as RegistryEntry;
    if (entry.runDir === lab.runDir) await Deno.remove(path);
  } catch {
    // Not registered.
  }
}
