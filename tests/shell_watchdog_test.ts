/**
 * The shell's watchdog: every command has a time bound; past it the command and everything it
 * started are killed and the call fails with a CommandTimeoutError naming the command, its argv
 * and the bound. Real processes, no root needed.
 */
import assert from "node:assert/strict";
import { CommandError, CommandTimeoutError, UserError } from "../lib/errors.ts";
import {
  commandProgram,
  commandTimeoutMs,
  findProcesses,
  pidAlive,
  spawnDetached,
  SystemShell,
} from "../lib/shell.ts";

const shell = new SystemShell();

/** A sleep whose argv no other process has, so leftovers can be looked for. */
function uniqueSleep(): string[] {
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(9)), (b) => b % 10).join("");
  return ["sleep", `${900 + Math.floor(Math.random() * 99)}.${digits}`];
}

function left(marker: string): number[] {
  return findProcesses((argv) => argv.includes(marker));
}

async function gone(pid: number, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !pidAlive(pid);
}

Deno.test("commandProgram looks through nsenter, env, setsid, ip netns exec and timeout", () => {
  assert.equal(commandProgram(["podman", "pod", "ls"]), "podman");
  assert.equal(commandProgram(["/usr/local/sbin/criu", "dump"]), "criu");
  assert.equal(commandProgram(["nsenter", "--net=/run/netns/h1", "--", "podman", "ps"]), "podman");
  assert.equal(commandProgram(["nsenter", "-t", "42", "-n", "criu", "restore"]), "criu");
  assert.equal(commandProgram(["ip", "netns", "exec", "h1", "criu", "check"]), "criu");
  assert.equal(commandProgram(["timeout", "-k", "1", "5", "podman", "ps"]), "podman");
  assert.equal(
    commandProgram(["env", "A=1", "nsenter", "--net=/x", "--", "setsid", "--fork", "bash", "-c"]),
    "bash",
  );
  assert.equal(commandProgram(["env"]), "env");
});

Deno.test("the bound: per call, else P4CF_COMMAND_TIMEOUT_S, else per program", () => {
  // "" is the setting unset ("undefined" would read this run's own P4CF_COMMAND_TIMEOUT_S,
  // which vm-check sets inside the VM).
  assert.equal(commandTimeoutMs(["podman", "ps"], undefined, ""), 120_000);
  assert.equal(
    commandTimeoutMs(["nsenter", "--net=/x", "--", "criu", "dump"], undefined, ""),
    120_000,
  );
  assert.equal(commandTimeoutMs(["ip", "link"], undefined, ""), 300_000);
  assert.equal(commandTimeoutMs(["podman", "ps"], 1000, "5"), 1000);
  assert.equal(commandTimeoutMs(["podman", "ps"], 0, "5"), undefined);
  assert.equal(commandTimeoutMs(["podman", "ps"], undefined, "5"), 5000);
  assert.equal(commandTimeoutMs(["ip", "link"], undefined, "0.5"), 500);
  assert.equal(commandTimeoutMs(["ip", "link"], undefined, "0"), undefined);
  assert.throws(
    () => commandTimeoutMs(["ip"], undefined, "ten"),
    (err: unknown) =>
      err instanceof UserError && /P4CF_COMMAND_TIMEOUT_S="ten" is not a number/.test(err.message),
  );
});

Deno.test("a stuck command fails within its bound, named, and leaves nothing behind", async () => {
  const argv = uniqueSleep();
  const t0 = performance.now();
  const err = await shell.run(argv, { timeoutMs: 1000 }).catch((e) => e);
  const ms = performance.now() - t0;
  assert.ok(err instanceof CommandTimeoutError, String(err));
  assert.ok(err instanceof CommandError, "callers catching CommandError still catch it");
  assert.equal(err.code, 124);
  assert.equal(err.program, "sleep");
  assert.equal(err.timeoutMs, 1000);
  assert.deepEqual(err.argv, argv);
  assert.match(err.message, /sleep did not finish within 1 s/);
  assert.ok(err.message.includes(argv.join(" ")), err.message);
  assert.ok(ms >= 950 && ms < 2500, `took ${ms.toFixed(0)} ms`);
  assert.deepEqual(left(argv[1]), []);
});

Deno.test("the watchdog kills children in a process group or session of their own", async () => {
  const dir = await Deno.makeTempDir();
  const [, a] = uniqueSleep();
  const [, b] = uniqueSleep();
  try {
    // A setsid child (its own session: bash without job control starts it as a non-leader, so
    // setsid(1) does not fork) and a job-control child (its own process group).
    const script = `setsid sleep ${b} & echo $! >"$0/b"; set -m; sleep ${a} & echo $! >"$0/a"; ` +
      "wait";
    const t0 = performance.now();
    const err = await shell.run(["bash", "-c", script, dir], { timeoutMs: 1000 }).catch((e) => e);
    const ms = performance.now() - t0;
    assert.ok(err instanceof CommandTimeoutError, String(err));
    assert.match(err.message, /bash did not finish within 1 s and was killed with 2 child/);
    assert.ok(ms < 2500, `took ${ms.toFixed(0)} ms`);
    for (const f of ["a", "b"]) {
      const pid = Number(await Deno.readTextFile(`${dir}/${f}`));
      assert.ok(err.killed.includes(pid), `${f} (${pid}) killed: ${err.killed}`);
      assert.ok(await gone(pid), `${f} (${pid}) is gone`);
    }
    assert.deepEqual([...left(a), ...left(b)], []);
  } finally {
    for (const pid of [...left(a), ...left(b)]) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a command ignoring SIGTERM is killed with SIGKILL after the grace", async () => {
  const [, n] = uniqueSleep();
  const t0 = performance.now();
  const err = await shell.run(["bash", "-c", `trap '' TERM; sleep ${n}; true`], { timeoutMs: 500 })
    .catch((e) => e);
  const ms = performance.now() - t0;
  assert.ok(err instanceof CommandTimeoutError, String(err));
  assert.ok(ms < 500 + 2000 + 1500, `took ${ms.toFixed(0)} ms`);
  assert.deepEqual(left(n), []);
});

Deno.test("check: false returns exit 124 and the watchdog's line instead of throwing", async () => {
  const argv = ["bash", "-c", `echo started; echo warming up >&2; exec ${uniqueSleep().join(" ")}`];
  const r = await shell.run(argv, { timeoutMs: 500, check: false });
  assert.equal(r.code, 124);
  assert.equal(r.timedOut, true);
  assert.equal(r.stdout, "started\n");
  assert.match(r.stderr, /^warming up\nCommand timed out: bash did not finish within 500 ms/);
});

Deno.test("output held open by an escaped daemon does not hang the call", async () => {
  const dir = await Deno.makeTempDir();
  const [, n] = uniqueSleep();
  try {
    // The subshell exits at once: the setsid'd sleep belongs to nobody but keeps our stdout.
    const script = `(setsid sleep ${n} & echo $! >"$0/pid"); echo hi`;
    const t0 = performance.now();
    const err = await shell.run(["bash", "-c", script, dir], { timeoutMs: 500 }).catch((e) => e);
    assert.ok(err instanceof CommandTimeoutError, String(err));
    assert.equal(err.stdout, "hi\n");
    assert.ok(performance.now() - t0 < 3000);
  } finally {
    for (const pid of left(n)) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a detached start that never writes its pid is killed and named", async () => {
  const dir = await Deno.makeTempDir();
  const argv = uniqueSleep();
  try {
    const err = await spawnDetached(shell, argv, {
      logFile: `${dir}/log`,
      // The waiter cannot write here, so the pid never comes.
      pidFile: `${dir}/missing/pid`,
      startTimeoutMs: 500,
    }).catch((e) => e);
    assert.ok(err instanceof CommandTimeoutError, String(err));
    assert.match(err.message, /sleep did not finish within 500 ms/);
    assert.match(err.message, /no pid in .*missing\/pid/);
    const pids = left(argv[1]);
    for (const pid of pids) assert.ok(await gone(pid), `pid ${pid} still runs`);
  } finally {
    for (const pid of left(argv[1])) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without a timeout: stdin, env, cwd and exit codes as before", async () => {
  const r = await shell.run(["sh", "-c", 'cat; echo "$X"; pwd'], {
    stdin: "in\n",
    env: { X: "ex" },
    cwd: "/tmp",
  });
  assert.equal(r.stdout, "in\nex\n/tmp\n");
  const missing = await shell.run(["p4cf-no-such-program"], { check: false });
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /p4cf-no-such-program: command not found/);
  await assert.rejects(shell.run(["p4cf-no-such-program"]), CommandError);
  const failed = await shell.run(["sh", "-c", "exit 3"], { check: false });
  assert.equal(failed.code, 3);
  assert.equal(failed.timedOut, undefined);
  // A command that does not read its stdin is not an error.
  assert.equal((await shell.run(["true"], { stdin: "x".repeat(1 << 20) })).code, 0);
});

Deno.test("a podman restore stuck behind a podman pod ls fails within its bound, named", async () => {
  // Podman 4.3's deadlock, re-enacted by a stand-in `podman`: `pod ls` takes the lock and keeps
  // it, `container restore` waits for it.
  const dir = await Deno.makeTempDir();
  const [, n] = uniqueSleep();
  await Deno.writeTextFile(
    `${dir}/podman`,
    `#!/bin/bash\nexec 9>"${dir}/lock"\nflock 9\n[ "$1" = pod ] && echo locked >"${dir}/held"\n` +
      `exec sleep ${n}\n`,
  );
  await Deno.chmod(`${dir}/podman`, 0o755);
  const env = { PATH: `${dir}:${Deno.env.get("PATH")}` };
  const lister = new Deno.Command("podman", { args: ["pod", "ls"], env, stdout: "null" }).spawn();
  try {
    while (!(await Deno.stat(`${dir}/held`).catch(() => undefined))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const argv = ["podman", "container", "restore", "--import", "/tmp/x.tar", "--pod", "p"];
    const t0 = performance.now();
    const err = await shell.run(argv, { env, timeoutMs: 1000 }).catch((e) => e);
    assert.ok(err instanceof CommandTimeoutError, String(err));
    assert.equal(err.program, "podman");
    assert.match(err.message, /podman did not finish within 1 s .*: podman container restore/);
    assert.ok(performance.now() - t0 < 2500);
    // Only the stuck command went; the listing it waited for is not ours to kill.
    assert.equal(left(n).length, 1);
  } finally {
    lister.kill("SIGKILL");
    await lister.status;
    for (const pid of left(n)) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});
