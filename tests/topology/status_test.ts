import assert from "node:assert/strict";
import { migrateLockPath } from "../../lib/lab/paths.ts";
import { RecordingShell } from "../../lib/shell.ts";
import { status } from "../../lib/topology/status.ts";
import { testLab } from "./_lab.ts";

Deno.test("status does not ask Podman while a migration runs in the lab", async () => {
  const { lab, runRoot } = await testLab("host-containers");
  const runDir = lab.runDir!;
  const migrate = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
  try {
    await Deno.mkdir(runDir, { recursive: true });
    const shell = new RecordingShell();
    const idle = await status(lab, { shell });
    assert.equal(idle.migrationPid, undefined);
    assert.ok(shell.lines().some((l) => l.startsWith("podman pod ls")), "asked when idle");

    await Deno.writeTextFile(migrateLockPath(runDir), `${migrate.pid}\n`);
    const during = new RecordingShell();
    const st = await status(lab, { shell: during });
    assert.equal(st.migrationPid, migrate.pid);
    assert.deepEqual(during.lines().filter((l) => l.startsWith("podman")), []);
    assert.deepEqual(st.problems, []);
  } finally {
    migrate.kill("SIGKILL");
    await migrate.status;
    await Deno.remove(runRoot, { recursive: true });
  }
});
