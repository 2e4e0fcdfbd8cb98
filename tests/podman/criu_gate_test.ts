import assert from "node:assert/strict";
import { gatePaths, gateRuntimeFlag, gateScript, mkfifoArgv } from "../../lib/podman/criu_gate.ts";
import { defaultShell, processStat } from "../../lib/shell.ts";

Deno.test("runc is told to run CRIU through the gate in the migration's directory", () => {
  const g = gatePaths("/m");
  assert.deepEqual(gateRuntimeFlag(g), ["--runtime-flag", "criu=/m/criu-gate"]);
  assert.deepEqual(mkfifoArgv(g), ["mkfifo", "--mode", "600", "/m/criu-gate.fifo"]);
});

/** Runs the gate with `echo` standing in for CRIU; its exit code and output. */
function runGate(script: string, args: string[]) {
  return new Deno.Command(script, { args, stdout: "piped", stderr: "piped" }).spawn().output();
}

Deno.test("the gate waits for the images, then runs CRIU; an abort or its time bound fails it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const g = gatePaths(dir);
    await defaultShell.run(mkfifoArgv(g));
    const me = { pid: Deno.pid, startTime: processStat(Deno.pid)!.startTime };
    await Deno.writeTextFile(g.script, gateScript(g, "/bin/echo", me, 5000), { mode: 0o700 });
    const t0 = performance.now();
    const opened = runGate(g.script, ["swrk", "3"]);
    await new Promise((r) => setTimeout(r, 100));
    await Deno.writeTextFile(g.ready, "");
    const out = await opened;
    assert.equal(out.code, 0);
    assert.equal(new TextDecoder().decode(out.stdout), "swrk 3\n");
    assert.ok(performance.now() - t0 >= 100, "it waited for ready");
    // Once open, it stays open (runc runs CRIU twice).
    assert.equal((await runGate(g.script, ["swrk", "9"])).code, 0);

    await Deno.remove(g.ready);
    const aborted = runGate(g.script, ["swrk", "3"]);
    await Deno.writeTextFile(g.abort, "");
    const a = await aborted;
    assert.equal(a.code, 1);
    assert.match(new TextDecoder().decode(a.stderr), /dump failed/);

    await Deno.remove(g.abort);
    await Deno.writeTextFile(g.script, gateScript(g, "/bin/echo", me, 40), { mode: 0o700 });
    const late = await runGate(g.script, ["swrk", "3"]);
    assert.equal(late.code, 1);
    assert.match(new TextDecoder().decode(late.stderr), /no checkpoint images within 40 ms/);

    // The migration gone (another process's start time under its pid): the gate fails at once.
    const gone = { pid: Deno.pid, startTime: "1" };
    await Deno.writeTextFile(g.script, gateScript(g, "/bin/echo", gone, 5000), { mode: 0o700 });
    const t1 = performance.now();
    const orphan = await runGate(g.script, ["swrk", "3"]);
    assert.equal(orphan.code, 1);
    assert.match(new TextDecoder().decode(orphan.stderr), /is gone/);
    assert.ok(performance.now() - t1 < 2000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
