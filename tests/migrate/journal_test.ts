import assert from "node:assert/strict";
import {
  journaledDriver,
  journaledSwitch,
  journalPath,
  MigrationJournal,
  readJournal,
  writeJournal,
} from "../../lib/migrate/journal.ts";
import { type MigrationDriver, runMigration } from "../../lib/migrate/run.ts";
import { RecordingProgress } from "../../lib/progress.ts";

const RECORD = {
  id: "2026-01-01T00-00-00-000Z-server-h2-h3",
  lab: "p4t-lab",
  workload: "server",
  kind: "process" as const,
  from: { name: "h2", ip: "10.0.2.2", netns: "t-h2" },
  to: { name: "h3", ip: "10.0.3.3", netns: "t-h3" },
  checkpointDir: "/nonexistent/migrations/x",
  source: { pid: 4242 },
  preDumpRounds: 0,
};

async function withRunDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "p4t-journal-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A driver whose every step records the journal's step and stage as it finds them. */
function spyDriver(runDir: string, failAt: string[] = []) {
  const seen: string[] = [];
  const step = (name: string) => async () => {
    const j = await readJournal(runDir);
    seen.push(`${name} sees ${j?.step}/${j?.stage}`);
    if (failAt.includes(name)) throw new Error(`${name} broke`);
    return `${name} done`;
  };
  const driver: MigrationDriver = {
    prepare: step("prepare"),
    dump: step("dump"),
    transfer: step("transfer"),
    rewrite: step("rewrite"),
    restore: step("restore"),
    restoreOnSource: step("restoreOnSource"),
    cleanupSource: step("cleanupSource"),
    resume: step("resume"),
  };
  return { driver, seen };
}

Deno.test("the journal is written before each step and says how the dump, restore and switch ended", async () => {
  await withRunDir(async (runDir) => {
    const journal = await MigrationJournal.create(runDir, RECORD);
    const first = await readJournal(runDir);
    assert.equal(first?.owner, Deno.pid);
    assert.equal(first?.step, "prepare");
    assert.equal(first?.switchMoved, false);
    const { driver, seen } = spyDriver(runDir);
    const result = await runMigration(
      journaledDriver(driver, journal, () => ({ restoredPid: 77 })),
      {
        progress: new RecordingProgress(),
        switchUpdate: journaledSwitch(async () => {
          const j = await readJournal(runDir);
          assert.equal(j?.step, "switch");
          assert.equal(j?.switchMoved, false, "not moved before the update returned");
          return "moved";
        }, journal),
      },
    );
    assert.equal(result.outcome, "migrated");
    assert.deepEqual(seen, [
      "prepare sees prepare/begin",
      "dump sees dump/begin",
      "transfer sees transfer/begin",
      "rewrite sees rewrite/begin",
      "restore sees restore/begin",
      "resume sees resume/begin",
      "cleanupSource sees cleanup/begin",
    ]);
    const last = await readJournal(runDir);
    assert.equal(last?.switchMoved, true);
    assert.equal(last?.restoredPid, 77);
    assert.equal(last?.rollback, false);
    const ended = last!.history.filter((h) => h.stage === "end").map((h) => `${h.step}:${h.ok}`);
    assert.deepEqual(ended, ["dump:true", "restore:true", "switch:true"]);
    assert.equal((await Deno.stat(journalPath(runDir))).mode! & 0o777, 0o600);
    await journal.remove();
    assert.equal(await readJournal(runDir), undefined);
    await journal.remove(); // twice is fine
  });
});

Deno.test("a failed restore is journaled, and so is the rollback that follows", async () => {
  await withRunDir(async (runDir) => {
    const journal = await MigrationJournal.create(runDir, RECORD);
    const { driver, seen } = spyDriver(runDir, ["restore"]);
    const result = await runMigration(journaledDriver(driver, journal), {
      progress: new RecordingProgress(),
      switchUpdate: () => Promise.resolve(),
    });
    assert.equal(result.outcome, "rolled-back");
    assert.equal(seen.at(-1), "restoreOnSource sees rollback/begin");
    const j = await readJournal(runDir);
    assert.equal(j?.rollback, true);
    assert.deepEqual(
      j!.history.filter((h) => h.stage === "end").map((h) => `${h.step}:${h.ok}`),
      ["dump:true", "restore:false", "rollback:true"],
    );
  });
});

Deno.test("a journal that cannot be written stops the step before it runs", async () => {
  await withRunDir(async (runDir) => {
    const journal = await MigrationJournal.create(runDir, RECORD);
    const { driver, seen } = spyDriver(runDir);
    await Deno.remove(runDir, { recursive: true });
    const result = await runMigration(journaledDriver(driver, journal), {
      progress: new RecordingProgress(),
      switchUpdate: () => Promise.resolve(),
    });
    assert.equal(result.outcome, "dump-failed");
    assert.deepEqual(seen, [], "nothing ran without its journal entry");
    await Deno.mkdir(runDir);
  });
});

Deno.test("adopting a journal makes this process its owner and counts the recovery", async () => {
  await withRunDir(async (runDir) => {
    await MigrationJournal.create(runDir, RECORD);
    const found = (await readJournal(runDir))!;
    await writeJournal(runDir, { ...found, owner: 999_999_999 });
    const adopted = await MigrationJournal.adopt(runDir, (await readJournal(runDir))!);
    assert.equal(adopted.record.owner, Deno.pid);
    assert.equal((await readJournal(runDir))?.recoveries, 1);
  });
});

Deno.test("a file that is not a journal is an error, not an empty journal", async () => {
  await withRunDir(async (runDir) => {
    await Deno.writeTextFile(journalPath(runDir), JSON.stringify({ version: 7 }));
    await assert.rejects(() => readJournal(runDir), SyntaxError);
  });
});

Deno.test("runMigration carries on from the transfer or from the switch", async () => {
  const calls: string[] = [];
  const step = (name: string, fail = false) => () => {
    calls.push(name);
    return fail ? Promise.reject(new Error(`${name} broke`)) : Promise.resolve();
  };
  const driver = (failRestore = false): MigrationDriver => ({
    prepare: step("prepare"),
    dump: step("dump"),
    transfer: step("transfer"),
    rewrite: step("rewrite"),
    restore: step("restore", failRestore),
    restoreOnSource: step("restoreOnSource"),
    cleanupSource: step("cleanupSource"),
    resume: () => calls.push("resume"),
  });
  const options = (startAt: "transfer" | "switch") => ({
    startAt,
    progress: new RecordingProgress(),
    switchUpdate: step("switch"),
  });
  assert.equal((await runMigration(driver(), options("switch"))).outcome, "migrated");
  assert.deepEqual(calls.splice(0), ["switch", "resume", "cleanupSource"]);
  assert.equal((await runMigration(driver(), options("transfer"))).outcome, "migrated");
  assert.deepEqual(calls.splice(0), [
    "transfer",
    "rewrite",
    "restore",
    "switch",
    "resume",
    "cleanupSource",
  ]);
  const failed = await runMigration(driver(true), options("transfer"));
  assert.equal(failed.outcome, "rolled-back");
  assert.deepEqual(calls.splice(0), ["transfer", "rewrite", "restore", "restoreOnSource"]);
});
