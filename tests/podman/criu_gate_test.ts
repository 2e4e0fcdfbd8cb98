import assert from "node:assert/strict";
import { gatePaths, gateRuntimeFlag, gateScript } from "../../lib/podman/criu_gate.ts";
import { RunGate } from "../../lib/criu/run_gate.ts";

Deno.test("runc is told to run CRIU through the gate in the migration's directory", () => {
  const g = gatePaths("/m");
  assert.deepEqual(gateRuntimeFlag(g), ["--runtime-flag", "criu=/m/criu-gate"]);
  assert.equal(g.gate, "/m/criu-gate.lock");
});

/** Runs the gate with `echo` standing in for CRIU; its exit code and output. */
function runGate(script: string, args: string[]) {
  return new Deno.Command(script, { args, stdout: "piped", stderr: "piped" }).spawn().output();
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("the gate waits for the images, then runs CRIU; a stop or its time bound fails it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const g = gatePaths(dir);
    await Deno.writeTextFile(g.script, gateScript(g, "/bin/echo", 5000), { mode: 0o700 });
    let gate = await RunGate.create(g.gate);
    const t0 = performance.now();
    const opened = runGate(g.script, ["swrk", "3"]);
    await new Promise((r) => setTimeout(r, 100));
    await gate.open(true);
    const out = await opened;
    assert.equal(out.code, 0, text(out.stderr));
    assert.equal(text(out.stdout), "swrk 3\n");
    assert.ok(performance.now() - t0 >= 100, "it waited for the gate");
    // Once open, it stays open (runc runs CRIU twice).
    assert.equal((await runGate(g.script, ["swrk", "9"])).code, 0);

    gate = await RunGate.create(g.gate);
    const stopped = runGate(g.script, ["swrk", "3"]);
    await gate.open(false);
    const a = await stopped;
    assert.equal(a.code, 1);
    assert.match(text(a.stderr), /dump failed/);

    gate = await RunGate.create(g.gate);
    await Deno.writeTextFile(g.script, gateScript(g, "/bin/echo", 40), { mode: 0o700 });
    const late = await runGate(g.script, ["swrk", "3"]);
    assert.equal(late.code, 1);
    assert.match(text(late.stderr), /no checkpoint images within 40 ms/);
    await gate.open(false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the migration gone while holding the gate: the gate fails at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const g = gatePaths(dir);
    await Deno.writeTextFile(g.script, gateScript(g, "/bin/echo", 5000), { mode: 0o700 });
    // A holder that dies: a child holds the lock on the emptied gate file, then is killed.
    await Deno.writeTextFile(g.gate, "");
    // One process (sh, then sleep in its place) holds it: killing it releases the lock.
    const holder = new Deno.Command("sh", {
      args: ["-c", 'exec 9<>"$1" && flock -x 9 && exec sleep 30', "sh", g.gate],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await new Promise((r) => setTimeout(r, 200));
      const t1 = performance.now();
      const orphan = runGate(g.script, ["swrk", "3"]);
      await new Promise((r) => setTimeout(r, 100));
      holder.kill("SIGKILL");
      const out = await orphan;
      assert.equal(out.code, 1);
      assert.match(text(out.stderr), /the migration is gone/);
      assert.ok(performance.now() - t1 < 2000);
    } finally {
      try {
        holder.kill("SIGKILL");
      } catch { /* gone */ }
      await holder.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the gate leaves the descriptors runc hands CRIU as they were (its socket as 9)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const g = gatePaths(dir);
    // A CRIU stand-in that answers on the descriptor named in its arguments, as `criu swrk 9`.
    const fakeCriu = `${dir}/criu`;
    await Deno.writeTextFile(fakeCriu, '#!/bin/sh\necho "answer to $1" >&"$2"\n', {
      mode: 0o700,
    });
    await Deno.writeTextFile(g.script, gateScript(g, fakeCriu, 5000), { mode: 0o700 });
    const gate = await RunGate.create(g.gate);
    const socket = `${dir}/socket`;
    const run = new Deno.Command("sh", {
      args: ["-c", 'exec 9>"$1" && exec "$2" swrk 9', "sh", socket, g.script],
      stderr: "piped",
    }).output();
    await gate.open(true);
    const out = await run;
    assert.equal(out.code, 0, text(out.stderr));
    assert.equal(await Deno.readTextFile(socket), "answer to swrk\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
