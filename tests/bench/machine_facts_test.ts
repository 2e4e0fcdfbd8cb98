import assert from "node:assert/strict";
import { settle, settleSeconds } from "../../lib/bench/machine_facts.ts";

const target = Math.max(1, navigator.hardwareConcurrency / 2);

Deno.test("settle waits while the load average is above half the CPUs, and at most maxS", async () => {
  const lines: string[] = [];
  let load = target + 2;
  let slept = 0;
  const sleep = () => {
    slept++;
    load -= 1; // falls by one every 5 s
    return Promise.resolve();
  };
  const r = await settle(90, (l) => lines.push(l), () => load, sleep);
  assert.equal(slept, 2);
  assert.deepEqual(r, { waitedS: 10, load: target + 2 });
  assert.match(lines[0], /waiting up to 90 s for the load average \(.*\) to fall to/);

  // Never settling: gives up after maxS.
  slept = 0;
  const stuck = await settle(12, () => {}, () => target + 5, () => (slept++, Promise.resolve()));
  assert.equal(stuck.waitedS, 15);
  assert.equal(slept, 3);

  // Quiet already, or waiting turned off: no wait, no word.
  const quiet: string[] = [];
  assert.equal((await settle(90, (l) => quiet.push(l), () => target / 2, sleep)).waitedS, 0);
  assert.equal((await settle(0, (l) => quiet.push(l), () => target + 5, sleep)).waitedS, 0);
  assert.deepEqual(quiet, []);
});

Deno.test("P4CF_BENCH_SETTLE_S: default 90, a number of seconds, or a named error", () => {
  const saved = Deno.env.get("P4CF_BENCH_SETTLE_S");
  try {
    Deno.env.delete("P4CF_BENCH_SETTLE_S");
    assert.equal(settleSeconds(), 90);
    Deno.env.set("P4CF_BENCH_SETTLE_S", "0");
    assert.equal(settleSeconds(), 0);
    Deno.env.set("P4CF_BENCH_SETTLE_S", "later");
    assert.throws(() => settleSeconds(), /P4CF_BENCH_SETTLE_S="later" is not a number/);
  } finally {
    if (saved === undefined) Deno.env.delete("P4CF_BENCH_SETTLE_S");
    else Deno.env.set("P4CF_BENCH_SETTLE_S", saved);
  }
});
