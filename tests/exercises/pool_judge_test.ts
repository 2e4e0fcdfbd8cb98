import assert from "node:assert/strict";
import {
  judgePool,
  POOL_SCENARIOS,
  POOL_TITLES,
  runPlanner,
} from "../../lib/exercises/pool_judge.ts";
import type { LbState } from "../../lib/lb/entries.ts";
import { addBackend as naive } from "../../lab/exercises/5-add-backends/pool.ts";
import { addBackend as solution } from "../../lab/exercises/5-add-backends/solution/pool.ts";

const oks = (fn: Parameters<typeof runPlanner>[0]) =>
  judgePool(runPlanner(fn)).map((j) => j.verdict.ok);

Deno.test("the reference solution passes every planner criterion", () => {
  const judged = judgePool(runPlanner(solution));
  assert.ok(judged.every((j) => j.verdict.ok), JSON.stringify(judged, null, 2));
  assert.deepEqual(judged.map((j) => j.title), Object.values(POOL_TITLES));
  assert.match(judged[0].verdict.detail!, /h2 gets id 2; h6 gets id 3/);
  assert.match(judged[2].verdict.detail!, /h2 got 8 of 16 slots; h6 got 4 of 16 slots/);
});

Deno.test("the starter's rehash-by-position planner fails every criterion", () => {
  const judged = judgePool(runPlanner(naive));
  assert.deepEqual(judged.map((j) => j.verdict.ok), [false, false, false]);
  assert.match(judged[0].verdict.detail!, /h3 was backend 1 and is now 2/);
  assert.match(judged[1].verdict.detail!, /went from 16 to 2 slots/);
  assert.match(judged[2].verdict.detail!, /it got 1 of 2 slots; .* share of the 16 slots is 8/);
});

Deno.test("a planner that changes its input, or throws, or returns junk, fails everything", () => {
  const mutating = (state: LbState, host: { name: string; ip: string }): LbState => {
    const id = Math.max(...state.backends.map((b) => b.id)) + 1;
    state.backends.push({ id, host: host.name, ip: host.ip });
    return state;
  };
  const judged = judgePool(runPlanner(mutating));
  assert.deepEqual(judged.map((j) => j.verdict.ok), [false, false, false]);
  assert.match(judged[0].verdict.detail!, /the state passed in was modified/);

  const throwing = (): LbState => {
    throw new Error("not yet");
  };
  const thrown = judgePool(runPlanner(throwing));
  assert.match(thrown[0].verdict.detail!, /one backend \(h3\), adding h2: Error: not yet/);
  assert.ok(thrown.slice(1).every((j) => !j.verdict.ok && /first criterion/.test(j.verdict.hint!)));

  const junk = () => undefined as unknown as LbState;
  assert.match(judgePool(runPlanner(junk))[0].verdict.detail!, /returned undefined, not a state/);
});

Deno.test("moving slots between old backends, or a stingy share, fails", () => {
  // Gives the new backend one slot, taken from the first backend, and shuffles the rest.
  const shuffling = (state: LbState, host: { name: string; ip: string }): LbState => {
    const id = 9;
    const slots = [...state.slots].reverse();
    slots[0] = id;
    return { ...state, backends: [...state.backends, { id, host: host.name, ip: host.ip }], slots };
  };
  assert.deepEqual(oks(shuffling), [true, false, false]);
  assert.equal(POOL_SCENARIOS.length, 2);
});
