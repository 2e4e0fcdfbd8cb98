import assert from "node:assert/strict";
import { CommandError } from "../lib/errors.ts";
import {
  DaxShell,
  detachedArgv,
  inNetns,
  pidAlive,
  RecordingShell,
  spawnDetached,
} from "../lib/shell.ts";

Deno.test("inNetns uses nsenter --net, not ip netns exec (CRIU cannot dump its mount ns)", () => {
  assert.deepEqual(inNetns("p4cf-h1", ["ip", "addr"]), [
    "nsenter",
    "--net=/run/netns/p4cf-h1",
    "--",
    "ip",
    "addr",
  ]);
  assert.deepEqual(inNetns(undefined, ["true"]), ["true"]);
});

Deno.test("detachedArgv starts in its own session with a log and a pid file", () => {
  const argv = detachedArgv(["srv", "-p", "80"], {
    netns: "h2",
    logFile: "/r/srv.log",
    pidFile: "/r/srv.pid",
  });
  assert.deepEqual(argv.slice(0, 5), [
    "env",
    "LOGFILE=/r/srv.log",
    "nsenter",
    "--net=/run/netns/h2",
    "--",
  ]);
  assert.deepEqual(argv.slice(5, 8), ["setsid", "--fork", "bash"]);
  assert.deepEqual(argv.slice(-4), ["/r/srv.pid", "srv", "-p", "80"]);
});

Deno.test("RecordingShell records argv and fails like the real shell on scripted errors", async () => {
  const shell = new RecordingShell([{
    match: /^ip link del/,
    result: { code: 1, stderr: "nope" },
  }]);
  await shell.run(["ip", "link", "add", "a"]);
  await assert.rejects(shell.run(["ip", "link", "del", "a"]), CommandError);
  const r = await shell.run(["ip", "link", "del", "a"], { check: false });
  assert.equal(r.code, 1);
  assert.deepEqual(shell.lines(), ["ip link add a", "ip link del a", "ip link del a"]);
});

Deno.test("DaxShell runs the system's programs, not dax's built-ins, and keeps argv intact", async () => {
  const shell = new DaxShell();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a b`, "x");
    // `cp -a` is not supported by dax's built-in cp.
    await shell.run(["cp", "-a", `${dir}/a b`, `${dir}/c;d`]);
    assert.equal(await Deno.readTextFile(`${dir}/c;d`), "x");
    const err = await shell.run(["sh", "-c", "echo oops >&2; exit 3"]).catch((e) => e);
    assert.ok(err instanceof CommandError);
    assert.equal(err.code, 3);
    assert.match(err.message, /oops/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnDetached leaves the process only stdin, stdout and stderr", async () => {
  const dir = await Deno.makeTempDir();
  let pid = 0;
  try {
    pid = await spawnDetached(new DaxShell(), ["sleep", "30"], {
      logFile: `${dir}/log`,
      pidFile: `${dir}/pid`,
    });
    assert.ok(pidAlive(pid));
    const fds = [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => e.name).sort();
    assert.deepEqual(fds, ["0", "1", "2"]);
    assert.equal(Deno.readLinkSync(`/proc/${pid}/fd/0`), "/dev/null");
  } finally {
    if (pid) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});
