import assert from "node:assert/strict";
import { type MigrationDriver, runMigration } from "../../lib/migrate/run.ts";
import { RecordingProgress } from "../../lib/progress.ts";

/** A driver that records calls and fails where told. */
function fakeDriver(failAt: string[] = []): MigrationDriver & { calls: string[] } {
  const calls: string[] = [];
  const step = (name: string) => () => {
    calls.push(name);
    if (failAt.includes(name)) return Promise.reject(new Error(`${name} broke`));
    return Promise.resolve(`${name} done`);
  };
  return {
    calls,
    preDump: (round) => step(`pre-dump${round}`)(),
    dump: step("dump"),
    transfer: step("transfer"),
    rewrite: step("rewrite"),
    restore: step("restore"),
    restoreOnSource: step("restoreOnSource"),
    cleanupSource: step("cleanupSource"),
    resume: () => calls.push("resume"),
  };
}

Deno.test("a successful migration runs every phase in order and updates the switch last", async () => {
  const driver = fakeDriver();
  let switched = false;
  const result = await runMigration(driver, {
    preDumpRounds: 2,
    progress: new RecordingProgress(),
    switchUpdate: () => {
      assert.deepEqual(driver.calls.at(-1), "restore", "switch only after restore");
      switched = true;
      return Promise.resolve();
    },
  });
  assert.equal(result.outcome, "migrated");
  assert.ok(switched);
  assert.deepEqual(driver.calls, [
    "pre-dump0",
    "pre-dump1",
    "dump",
    "transfer",
    "rewrite",
    "restore",
    "resume",
    "cleanupSource",
  ]);
  assert.deepEqual(result.phases.map((p) => p.phase), [
    "pre-dump",
    "pre-dump",
    "dump",
    "transfer",
    "rewrite",
    "restore",
    "switch",
    "cleanup",
  ]);
  assert.ok(result.frozenMs >= 0 && result.frozenMs <= result.wallMs);
  const sum = result.phases.reduce((a, p) => a + p.ms, 0);
  assert.ok(sum <= result.wallMs + 1, "phases fit in the wall time");
});

Deno.test("a failed dump leaves the source alone and never touches the switch", async () => {
  const driver = fakeDriver(["dump"]);
  const result = await runMigration(driver, {
    progress: new RecordingProgress(),
    switchUpdate: () => Promise.reject(new Error("must not be called")),
  });
  assert.equal(result.outcome, "dump-failed");
  assert.match(result.error ?? "", /dump broke/);
  assert.deepEqual(driver.calls, ["dump"]);
});

for (const failing of ["transfer", "rewrite", "restore"]) {
  Deno.test(`a failed ${failing} restores on the source and leaves the switch as it was`, async () => {
    const driver = fakeDriver([failing]);
    let switched = false;
    const result = await runMigration(driver, {
      progress: new RecordingProgress(),
      switchUpdate: () => {
        switched = true;
        return Promise.resolve();
      },
    });
    assert.equal(result.outcome, "rolled-back");
    assert.equal(switched, false);
    assert.equal(driver.calls.at(-1), "restoreOnSource");
    assert.ok(!driver.calls.includes("cleanupSource"));
  });
}

Deno.test("a failed rollback is reported as such", async () => {
  const driver = fakeDriver(["restore", "restoreOnSource"]);
  const result = await runMigration(driver, {
    progress: new RecordingProgress(),
    switchUpdate: () => Promise.resolve(),
  });
  assert.equal(result.outcome, "rollback-failed");
  assert.match(result.error ?? "", /restore broke/);
});

Deno.test("prepare runs before the frozen window; if it fails nothing else runs", async () => {
  const calls: string[] = [];
  const driver = {
    ...fakeDriver(),
    prepare: () => {
      calls.push("prepare");
      return new Promise<string>((r) => setTimeout(() => r("looked up"), 30));
    },
  };
  const result = await runMigration(driver, {
    progress: new RecordingProgress(),
    switchUpdate: () => Promise.resolve(),
  });
  assert.deepEqual(result.phases.map((p) => p.phase).slice(0, 2), ["prepare", "dump"]);
  assert.ok(result.wallMs - result.frozenMs >= 25, "prepare is not frozen time");

  const failing = { ...fakeDriver(), prepare: () => Promise.reject(new Error("no such pod")) };
  const failed = await runMigration(failing, {
    progress: new RecordingProgress(),
    switchUpdate: () => Promise.reject(new Error("must not be called")),
  });
  assert.equal(failed.outcome, "dump-failed");
  assert.match(failed.error ?? "", /no such pod/);
  assert.deepEqual(failing.calls, []);
});
