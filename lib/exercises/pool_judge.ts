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

/** Titles of the planner's criteria, in order. */
export const POOL_TITLES = {
  ids: "existing backends keep their ids and addresses; the new one gets a free id",
  slots: "the slot table keeps its size, and only slots given to the new backend change",
  share: "the new backend gets its fair share of the slots",
} as const;

/**
 * Judges the planner's runs on three criteria, none of which a planner that rebuilds the pool
 * from scratch passes. A run that threw, returned something that is not a state, or modified
 * its input fails all three with that reason.
 */
export function judgePool(runs: readonly PoolRun[]): Judged[] {
  const broken = runs.find((r) => r.error !== undefined || shape(r.after) || r.mutated);
  if (broken) {
    const verdict = broken.error !== undefined
      ? failFromError(broken.error)
      : broken.mutated
      ? fail(
        "the state passed in was modified: the controller still needs the old state to work " +
          "out which entries change",
        "build new lists instead of changing the ones you were given",
      )
      : fail(shape(broken.after)!, "return a whole state: the old one with your changes");
    const first = { ...verdict, detail: `${broken.scenario.name}: ${verdict.detail}` };
    return Object.values(POOL_TITLES).map((title, i) => ({
      title,
      verdict: i === 0
        ? first
        : fail("addBackend() did not return a usable state", "see the first criterion"),
    }));
  }

  const ids = everyRun(
    runs,
    (r) => {
      const added = r.after!.backends.filter((b) => b.host === r.scenario.add.name);
      if (added.length !== 1) {
        return `the new host appears ${added.length} times among the backends`;
      }
      if (added[0].ip !== r.scenario.add.ip) return `the new backend's ip is ${added[0].ip}`;
      for (const old of r.scenario.before.backends) {
        const now = r.after!.backends.find((b) => b.host === old.host);
        if (!now) return `backend ${old.host} disappeared`;
        if (now.id !== old.id) {
          return `${old.host} was backend ${old.id} and is now ${now.id}: the switch remembers ` +
            `id ${old.id} for ${old.host}'s open connections, which would now go to ` +
            `${r.after!.backends.find((b) => b.id === old.id)?.host ?? "nobody"}`;
        }
        if (now.ip !== old.ip) return `${old.host}'s address changed to ${now.ip}`;
      }
      if (r.after!.backends.length !== r.scenario.before.backends.length + 1) {
        return `${r.after!.backends.length} backends after adding one to ` +
          `${r.scenario.before.backends.length}`;
      }
      const id = added[0].id;
      if (!Number.isInteger(id) || id < 1 || id > MAX_BACKEND_ID) {
        return `the new backend's id is ${id}, outside 1..${MAX_BACKEND_ID}`;
      }
      if (r.scenario.before.backends.some((b) => b.id === id)) {
        return `the new backend's id ${id} already belonged to a backend`;
      }
      return undefined;
    },
    (r) => `${r.scenario.add.name} gets id ${newBackend(r)!.id}`,
    "the switch remembers each open connection's backend by id: what must an id keep meaning?",
  );

  const slots = everyRun(
    runs,
    (r) => {
      const id = newBackend(r)?.id;
      const before = r.scenario.before.slots;
      const after = r.after!.slots;
      if (after.length !== before.length) {
        return `the slot table went from ${before.length} to ${after.length} slots: every ` +
          "connection that falls back to the slots (flow_events[miss]) now hashes elsewhere";
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
    "a slot that changes owner sends its future connections elsewhere: change only the ones " +
      "the new backend needs",
  );

  const share = everyRun(
    runs,
    (r) => {
      const id = newBackend(r)?.id;
      const slotCount = r.scenario.before.slots.length;
      const n = r.scenario.before.backends.length + 1;
      const got = r.after!.slots.filter((s) => s === id).length;
      const low = Math.floor(slotCount / n);
      const high = Math.ceil(slotCount / n);
      return r.after!.slots.length === slotCount && got >= low && got <= high
        ? undefined
        : `it got ${got} of ${r.after!.slots.length} slots; with ${n} backends its share of the ` +
          `${slotCount} slots is ${low === high ? low : `${low} or ${high}`}`;
    },
    (r) => {
      const id = newBackend(r)!.id;
      const got = r.after!.slots.filter((s) => s === id).length;
      return `${r.scenario.add.name} got ${got} of ${r.after!.slots.length} slots`;
    },
    "with n backends, each should hold about 1/n of the slots: how many is that for the new one?",
  );

  return [
    { title: POOL_TITLES.ids, verdict: ids },
    { title: POOL_TITLES.slots, verdict: slots },
    { title: POOL_TITLES.share, verdict: share },
  ];
}
