/**
 * `lab recover` around the recovery itself (lib/runtime/recover.ts): when there is something to
 * recover, who may, and journals that no longer apply. The recoveries themselves, on a real lab,
 * are in tests/migrate/recover_test.ts.
 */
import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { migrateLockPath } from "../../lib/lab/paths.ts";
import { journalPath, MigrationJournal, readJournal } from "../../lib/migrate/journal.ts";
import { LockedError } from "../../lib/pid_lock.ts";
import { interruptedMigration, recoverLab } from "../../lib/runtime/recover.ts";
import { RecordingShell } from "../../lib/shell.ts";
import { testLab } from "../topology/_lab.ts";
import type { Lab } from "../../lib/lab/types.ts";

async function withLab(fn: (lab: Lab, runDir: string) => Promise<void>): Promise<void> {
  const { lab, runRoot } = await testLab("process-migration");
  try {
    await Deno.mkdir(lab.runDir!, { recursive: true });
    await fn(lab, lab.runDir!);
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
}

function journalOf(lab: Lab, runDir: string, inode?: number) {
  return MigrationJournal.create(runDir, {
    id: "x",
    lab: lab.name,
    workload: "server",
    kind: "process",
    from: { name: "h2", ip: "10.0.2.2", netns: `${lab.id}-h2`, netnsInode: inode },
    to: { name: "h3", ip: "10.0.3.3", netns: `${lab.id}-h3`, netnsInode: inode },
    checkpointDir: `${runDir}/migrations/x`,
    source: { pid: 99_999_999 },
    preDumpRounds: 0,
  });
}

/** Runs `fn` while a live process (standing in for `migrate`) holds the lab's migration lock. */
async function whileLocked(runDir: string, fn: (pid: number) => Promise<void>): Promise<void> {
  const migrate = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
  try {
    await Deno.writeTextFile(migrateLockPath(runDir), `${migrate.pid}\n`);
    await fn(migrate.pid);
  } finally {
    migrate.kill("SIGKILL");
    await migrate.status;
  }
}

Deno.test("without a journal there is nothing to recover, and nothing is run", async () => {
  await withLab(async (lab) => {
    const shell = new RecordingShell();
    const report = await recoverLab(lab, { shell });
    assert.equal(report.outcome, "nothing-to-do");
    assert.deepEqual(shell.calls, []);
    assert.equal(await interruptedMigration(lab), undefined);
  });
});

Deno.test("a running migration is not interrupted: recover refuses and lab up leaves it", async () => {
  await withLab(async (lab, runDir) => {
    await journalOf(lab, runDir);
    await whileLocked(runDir, async (pid) => {
      assert.equal(await interruptedMigration(lab), undefined, "its owner lives");
      const shell = new RecordingShell();
      const err = await recoverLab(lab, { shell }).then(() => undefined, (e) => e);
      assert.ok(err instanceof LockedError, String(err));
      assert.match(err.message, new RegExp(`still running \\(pid ${pid}\\)`));
      assert.deepEqual(shell.calls, []);
    });
    assert.ok(await readJournal(runDir), "the journal stays");
    // Its owner dead (the lock file names a dead pid), the migration is interrupted.
    assert.equal((await interruptedMigration(lab))?.workload, "server");
  });
});

Deno.test("the journal of a lab brought up anew since is removed, not acted on", async () => {
  await withLab(async (lab, runDir) => {
    // Namespaces that have since been replaced: the recorded inode is not theirs (or gone).
    await journalOf(lab, runDir, 1);
    const shell = new RecordingShell();
    const report = await recoverLab(lab, {
      shell,
      pointSwitch: () => Promise.reject(new Error("the switch must not be asked")),
    });
    assert.equal(report.outcome, "stale");
    assert.deepEqual(shell.calls, []);
    await assert.rejects(Deno.stat(journalPath(runDir)), Deno.errors.NotFound);
    assert.equal((await recoverLab(lab, { shell })).outcome, "nothing-to-do", "idempotent");
  });
});

Deno.test("another lab's journal in the run directory is refused by name", async () => {
  await withLab(async (lab, runDir) => {
    await journalOf({ ...lab, name: "p4t-other" }, runDir);
    await assert.rejects(() => recoverLab(lab), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /journal of lab p4t-other/);
      return true;
    });
  });
});

Deno.test("a recovery with nothing left to restore reports the workload lost and ends", async () => {
  await withLab(async (lab, runDir) => {
    await journalOf(lab, runDir);
    const report = await recoverLab(lab, {
      shell: new RecordingShell(),
      pointSwitch: () => Promise.reject(new Error("the switch must not be asked")),
    });
    assert.equal(report.outcome, "lost");
    assert.match(report.actions.at(-1)!, /^lost: /);
    assert.equal(await readJournal(runDir), undefined, "the journal is gone: lab up goes on");
  });
});
