/**
 * Judges a student's "add a backend" planner (exercise 5) without a switch: runs it on a few
 * load-balancer states and checks the properties that keep established connections and spread
 * new ones. The switch remembers each connection's backend *id*, so ids and addresses of existing
 * backends must not change; the slot table keeps its size, and only the slots handed to the new
 * backend change.
 *
 * @module
 */
import type { LbState } from "../lb/entries.ts";
import { MAX_BACKEND_ID } from "../p4/lb_program.ts";
import { fail, failFromError, pass, type Verdict } from "./grading.ts";
import type { Judged } from "./lb_entries_judge.ts";

/** The student's planner: the state after adding `host` as a backend. */
export type AddBackend = (state: LbState, host: { name: string; ip: string }) => LbState;

/** A state to add a backend to, and the host to add. */
export interface PoolScenario {
  name: string;
  before: LbState;
  add: { name: string; ip: string };
}

const base = { switch: "s1", vip: "10.0.0.100", servicePort: 12345 };

/** The scenarios the planner is judged on: one backend, and three with an id gap and uneven slots. */
export const POOL_SCENARIOS: readonly PoolScenario[] = [
  {
    name: "one backend (h3), adding h2",
    before: {
      ...base,
      backends: [{ id: 1, host: "h3", ip: "10.0.3.3" }],
      slots: Array(16).fill(1),
      standbyIps: ["10.0.2.2", "10.0.3.3"],
    },
    add: { name: "h2", ip: "10.0.2.2" },
  },
  {
    name: "backends 1, 2 and 4, adding h6",
    before: {
      ...base,
      backends: [
        { id: 1, host: "h2", ip: "10.0.2.2" },
        { id: 2, host: "h3", ip: "10.0.3.3" },
        { id: 4, host: "h5", ip: "10.0.5.5" },
      ],
      slots: [1, 2, 4, 1, 2, 4, 1, 2, 4, 1, 2, 4, 1, 2, 4, 1],
      standbyIps: ["10.0.2.2", "10.0.3.3", "10.0.5.5", "10.0.6.6"],
    },
    add: { name: "h6", ip: "10.0.6.6" },
  },
];

/** What the planner returned for one scenario (or the error it threw). */
export interface PoolRun {
  scenario: PoolScenario;
  after?: LbState;
  /** The input was modified in place. */
  mutated: boolean;
  error?: unknown;
}

/** Runs the planner on every scenario, each on its own copy of the state. */
export function runPlanner(addBackend: AddBackend, scenarios = POOL_SCENARIOS): PoolRun[] {
  return scenarios.map((scenario) => {
    const input = structuredClone(scenario.before);
    try {
      const after = addBackend(input, { ...scenario.add });
      const mutated = JSON.stringify(input) !== JSON.stringify(scenario.before);
      return { scenario, after, mutated };
    } catch (error) {
      return { scenario, mutated: false, error };
    }
  });
}

function shape(after: unknown): string | undefined {
  const s = after as Partial<LbState> | undefined;
  if (!s || typeof s !== "object") return `returned ${JSON.stringify(after)}, not a state`;
  if (!Array.isArray(s.backends)) return "the returned state has no backends list";
  if (!Array.isArray(s.slots)) return "the returned state has no slots list";
  return undefined;
}

function newBackend(run: PoolRun) {
  return run.after!.backends.find((b) => b.host === run.scenario.add.name);
}

function everyRun(
  runs: readonly PoolRun[],
  check: (run: PoolRun) => string | undefined,
  passDetail: (run: PoolRun) => string,
  hint: string,
): Verdict {
  for (const run of runs) {
    const problem = check(run);
    if (problem) return fail(`${run.scenario.name}: ${problem}`, hint);
  }
  return pass(runs.map(passDetail).join("; "));
}

/**
 * Judges the planner's runs. The first criterion (it returns a well-formed new state) gates the
 * others: they are failed with a pointer to it when it fails.
 */
export function judgePool(runs: readonly PoolRun[]): Judged[] {
  const broken = runs.find((r) => r.error !== undefined || shape(r.after));
  const titles = {
    returns: "addBackend() returns a new state and leaves its input alone",
    ids: "existing backends keep their ids and addresses",
    newId: "the new backend gets an unused id (1..255)",
    size: "the slot table keeps its size",
    moved: "only slots handed to the new backend change",
    share: "the new backend gets its fair share of the slots",
  };
  if (broken) {
    const verdict = broken.error !== undefined
      ? failFromError(broken.error)
      : fail(`${broken.scenario.name}: ${shape(broken.after)}`);
    const first = {
      ...verdict,
      detail: `${broken.scenario.name}: ${verdict.detail}`,
      hint: verdict.hint ?? "return { ...state, backends, slots } with the new backend added",
    };
    const rest = Object.values(titles).slice(1).map((title) => ({
      title,
      verdict: fail("addBackend() did not return a usable state", "fix the first criterion"),
    }));
    return [{ title: titles.returns, verdict: first }, ...rest];
  }
  const returns = everyRun(
    runs,
    (r) => {
      if (r.mutated) return "the state passed in was modified";
      const added = r.after!.backends.filter((b) => b.host === r.scenario.add.name);
      if (added.length !== 1) {
        return `the new host appears ${added.length} times among the backends`;
      }
      if (added[0].ip !== r.scenario.add.ip) return `the new backend's ip is ${added[0].ip}`;
      if (r.after!.backends.length !== r.scenario.before.backends.length + 1) {
        return `${r.after!.backends.length} backends after adding one to ` +
          `${r.scenario.before.backends.length}`;
      }
      return undefined;
    },
    (r) => r.scenario.name,
    "copy the lists ([...state.slots]) instead of changing them",
  );

  const ids = everyRun(
    runs,
    (r) => {
      for (const old of r.scenario.before.backends) {
        const now = r.after!.backends.find((b) => b.host === old.host);
        if (!now) return `backend ${old.host} disappeared`;
        if (now.id !== old.id) {
          return `${old.host} was backend ${old.id} and is now ${now.id}: the switch remembers ` +
            `id ${old.id} for ${old.host}'s connections, which would now go to ` +
            `${r.after!.backends.find((b) => b.id === old.id)?.host ?? "nobody"}`;
        }
        if (now.ip !== old.ip) return `${old.host}'s address changed to ${now.ip}`;
      }
      return undefined;
    },
    (r) => r.scenario.before.backends.map((b) => `${b.host} keeps ${b.id}`).join(", "),
    "keep the existing backends as they are; only append the new one",
  );

  const newId = everyRun(
    runs,
    (r) => {
      const id = newBackend(r)!.id;
      if (!Number.isInteger(id) || id < 1 || id > MAX_BACKEND_ID) return `its id is ${id}`;
      if (r.scenario.before.backends.some((b) => b.id === id)) {
        return `its id ${id} already belonged to a backend`;
      }
      return undefined;
    },
    (r) => `${r.scenario.add.name} gets id ${newBackend(r)!.id}`,
    "pick the lowest id no backend uses",
  );

  const size = everyRun(
    runs,
    (r) => {
      const before = r.scenario.before.slots.length;
      const after = r.after!.slots.length;
      return after === before
        ? undefined
        : `the slot table went from ${before} to ${after} slots: a connection falling back to ` +
          "the slots (see flow_events.miss) is hashed modulo a different number";
    },
    (r) => `${r.after!.slots.length} slots`,
    "keep slots.length; re-point some slots instead",
  );

  const moved = everyRun(
    runs,
    (r) => {
      const id = newBackend(r)!.id;
      const before = r.scenario.before.slots;
      const after = r.after!.slots;
      if (after.length !== before.length) {
        return "the slot table changed size, so the hash of every connection lands elsewhere";
      }
      const changed = before.flatMap((old, i) => old !== after[i] && after[i] !== id ? [i] : []);
      return changed.length
        ? `slot(s) ${changed.join(", ")} moved between existing backends`
        : undefined;
    },
    (r) => {
      const id = newBackend(r)!.id;
      const moved = r.after!.slots.filter((s, i) => s === id && r.scenario.before.slots[i] !== id);
      return `${moved.length} slot(s) moved to ${r.scenario.add.name}, no other`;
    },
    "change a slot only to give it to the new backend",
  );

  const share = everyRun(
    runs,
    (r) => {
      const id = newBackend(r)!.id;
      const slots = r.after!.slots.length;
      const n = r.after!.backends.length;
      const got = r.after!.slots.filter((s) => s === id).length;
      const low = Math.floor(slots / n);
      const high = Math.ceil(slots / n);
      return got >= low && got <= high
        ? undefined
        : `it got ${got} of ${slots} slots; with ${n} backends its share is ${
          low === high ? low : `${low} or ${high}`
        }`;
    },
    (r) => {
      const id = newBackend(r)!.id;
      const got = r.after!.slots.filter((s) => s === id).length;
      return `${r.scenario.add.name} got ${got} of ${r.after!.slots.length} slots`;
    },
    "take floor(slots / backends) slots, each from the backend that holds the most",
  );

  return [
    { title: titles.returns, verdict: returns },
    { title: titles.ids, verdict: ids },
    { title: titles.newId, verdict: newId },
    { title: titles.size, verdict: size },
    { title: titles.moved, verdict: moved },
    { title: titles.share, verdict: share },
  ];
}
