/**
 * The controller's persisted load-balancer state (`<run dir>/lb_state.json`): written atomically
 * after every change, read back when the controller starts, and checked against the lab so a
 * state file from an edited lab is refused rather than programmed.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import type { Lab } from "../lab/types.ts";
import type { LbState } from "../lb/entries.ts";
import { MAX_BACKEND_ID, MAX_SLOTS } from "../p4/lb_program.ts";

/** What the file holds. */
export interface LbStateFile {
  version: 1;
  lab: string;
  savedAt: string;
  state: LbState;
}

/** Default location of the state file in a lab's run directory. */
export function lbStatePath(runDir: string): string {
  return `${runDir.replace(/\/+$/, "")}/lb_state.json`;
}

/** Writes the state atomically (temporary file, then rename). */
export async function saveLbState(path: string, lab: Lab, state: LbState): Promise<void> {
  const file: LbStateFile = { version: 1, lab: lab.name, savedAt: new Date().toISOString(), state };
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(file, null, 2) + "\n");
  await Deno.rename(tmp, path);
}

/**
 * Reads the state file; undefined when there is none. Throws a UserError when it is unreadable
 * or does not fit the lab (other lab, VIP, switch or host addresses changed).
 */
export async function loadLbState(path: string, lab: Lab): Promise<LbState | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  const refuse = (why: string) =>
    new UserError(`The controller state file ${path} does not fit lab "${lab.name}": ${why}`, {
      hint: `remove ${path} to start from the lab's initial backends`,
    });
  let file: LbStateFile;
  try {
    file = JSON.parse(text);
  } catch (err) {
    throw refuse(`not JSON (${(err as Error).message})`);
  }
  if (file?.version !== 1 || typeof file.state !== "object" || file.state === null) {
    throw refuse("unknown format");
  }
  if (file.lab !== lab.name) throw refuse(`it belongs to lab "${file.lab}"`);
  checkStateFitsLab(file.state, lab, refuse);
  return file.state;
}

/** Throws (through `refuse`) when the state names things the lab does not have. */
export function checkStateFitsLab(
  state: LbState,
  lab: Lab,
  refuse: (why: string) => Error,
): void {
  const lb = lab.loadBalancer;
  if (state.switch !== lb.switch) {
    throw refuse(`load balancer switch "${state.switch}" (the lab has "${lb.switch}")`);
  }
  if (state.vip !== lb.vip || state.servicePort !== lb.servicePort) {
    throw refuse(
      `VIP ${state.vip}:${state.servicePort} (the lab has ${lb.vip}:${lb.servicePort})`,
    );
  }
  if (!Array.isArray(state.backends) || !Array.isArray(state.slots)) {
    throw refuse("backends or slots missing");
  }
  if (state.slots.length < 1 || state.slots.length > MAX_SLOTS) {
    throw refuse(`${state.slots.length} slots`);
  }
  const ids = new Set<number>();
  for (const b of state.backends) {
    if (!Number.isInteger(b.id) || b.id < 1 || b.id > MAX_BACKEND_ID || ids.has(b.id)) {
      throw refuse(`bad or duplicate backend id ${JSON.stringify(b.id)}`);
    }
    ids.add(b.id);
    const host = lab.hosts.find((h) => h.name === b.host);
    if (!host) throw refuse(`backend ${b.id} is on host "${b.host}", which the lab lacks`);
    if (host.ip !== b.ip) {
      throw refuse(`backend ${b.id} uses ${b.ip}, but host "${b.host}" is ${host.ip}`);
    }
  }
  const ips = new Set(lab.hosts.map((h) => h.ip));
  for (const ip of state.standbyIps ?? []) {
    if (!ips.has(ip)) throw refuse(`standby address ${ip} is no host of the lab`);
  }
  for (const id of state.slots) {
    if (id !== 0 && !ids.has(id)) throw refuse(`a slot names unknown backend ${id}`);
  }
}
