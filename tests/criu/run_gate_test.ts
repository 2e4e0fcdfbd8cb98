import assert from "node:assert/strict";
import { GATE_GO, gateWaitSh, RunGate } from "../../lib/criu/run_gate.ts";
import { shellQuote } from "../../lib/shell.ts";
import { dumpGateScript } from "../../lib/criu/checkpoint.ts";

/** A `sh` held at the gate in `dir`, printing `ran` once let through. */
function heldShell(gate: string, waitS = 30) {
  return new Deno.Command("sh", {
    args: ["-c", `${gateWaitSh(gate, waitS)} && echo ran`],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function outcome(child: Deno.ChildProcess) {
  const out = await child.output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout).trim() };
}

const running = async (child: Deno.ChildProcess, ms: number) =>
  await Promise.race([child.status.then(() => false), new Promise((r) => setTimeout(r, ms))]) !==
    false;

Deno.test("run gate: any gate path survives sh (shellQuote), quotes included", async () => {
  for (const s of ["/a b/c", "it's", "$(x)`y`", ""]) {
    const out = await new Deno.Command("sh", { args: ["-c", `printf %s ${shellQuote(s)}`] })
      .output();
    assert.equal(new TextDecoder().decode(out.stdout), s);
  }
});

Deno.test("run gate: the held command waits while the gate is closed, and goes on `go`", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const gate = await RunGate.create(`${dir}/it's a gate`);
    assert.ok(gate.closed);
    const child = heldShell(gate.path);
    assert.ok(await running(child, 300), "went through a closed gate");
    await gate.open(true);
    assert.equal(gate.closed, false);
    assert.deepEqual(await outcome(child), { code: 0, stdout: "ran" });
    await gate.open(false); // only the first opening decides
    assert.equal(await Deno.readTextFile(gate.path), `${GATE_GO}\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run gate: opened with stop, the held command fails without going on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const gate = await RunGate.create(`${dir}/g`);
    const child = heldShell(gate.path);
    await gate.open(false);
    assert.deepEqual(await outcome(child), { code: 1, stdout: "" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run gate: when its holder dies, the held command fails at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const path = `${dir}/g`;
    // Another Deno holds the gate, starts the held shell, and is killed.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const f = await Deno.open(${JSON.stringify(path)}, { read: true, write: true, ` +
        `create: true, truncate: true }); await f.lock(true); console.log("held"); ` +
        `setInterval(() => {}, 1000);`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await reader.read()).value?.trim(), "held");
    reader.releaseLock();
    const child = heldShell(path);
    assert.ok(await running(child, 200));
    holder.kill("SIGKILL");
    await holder.status;
    await holder.stdout.cancel().catch(() => {});
    assert.deepEqual(await outcome(child), { code: 1, stdout: "" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run gate: a held command gives up after its wait", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const gate = await RunGate.create(`${dir}/g`);
    const child = heldShell(gate.path, 1);
    assert.deepEqual(await outcome(child), { code: 1, stdout: "" });
    await gate.open(true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dump gate script: holds only CRIU's pre-dump action point", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-gate-" });
  try {
    const gate = await RunGate.create(`${dir}/g`);
    const script = `${dir}/gate.sh`;
    await Deno.writeTextFile(script, dumpGateScript(gate.path, 30), { mode: 0o700 });
    const run = (action: string) =>
      new Deno.Command(script, { env: { CRTOOLS_SCRIPT_ACTION: action } }).spawn();
    // Every other action point passes with the gate closed.
    for (const action of ["post-dump", "network-lock", "pre-restore"]) {
      assert.equal((await run(action).status).code, 0, action);
    }
    const held = run("pre-dump");
    assert.ok(await running(held, 300));
    await gate.open(true);
    assert.equal((await held.status).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
