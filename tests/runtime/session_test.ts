import assert from "node:assert/strict";
import { labsRunRoot, migrateLockPath } from "../../lib/lab/paths.ts";
import { UserError } from "../../lib/errors.ts";
import { labDown } from "../../lib/runtime/session.ts";
import { LockedError } from "../../lib/pid_lock.ts";
import { RecordingShell } from "../../lib/shell.ts";
import { testLab } from "../topology/_lab.ts";

Deno.test("lab down refuses while a live migration holds the lab, and runs nothing", async () => {
  const { lab, runRoot } = await testLab("process-migration");
  const runDir = lab.runDir!;
  // A live process standing in for `deno task migrate`.
  const migrate = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
  try {
    await Deno.mkdir(runDir, { recursive: true });
    await Deno.writeTextFile(migrateLockPath(runDir), `${migrate.pid}\n`);
    const shell = new RecordingShell();
    const err = await labDown(lab, { shell }).then(() => undefined, (e) => e);
    assert.ok(err instanceof LockedError, String(err));
    assert.match(err.message, new RegExp(`migration .* still running \\(pid ${migrate.pid}\\)`));
    assert.deepEqual(shell.calls, [], "nothing torn down under a running migration");
    assert.equal(
      (await Deno.readTextFile(migrateLockPath(runDir))).trim(),
      String(migrate.pid),
      "the migration keeps its lock",
    );
  } finally {
    migrate.kill("SIGKILL");
    await migrate.status;
    await Deno.remove(runRoot, { recursive: true });
  }
});

Deno.test("lab down of a lab that does not exist says so and creates nothing", async () => {
  const before = await Array.fromAsync(Deno.readDir(labsRunRoot())).catch(() => []);
  await assert.rejects(() => labDown("p4t-no-such-lab"), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /p4t-no-such-lab has no state file/);
    return true;
  });
  const after = await Array.fromAsync(Deno.readDir(labsRunRoot())).catch(() => []);
  assert.equal(after.length, before.length, "no empty run directory left");
});
