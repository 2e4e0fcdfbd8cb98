import assert from "node:assert/strict";
import { CommandError } from "../lib/errors.ts";
import {
  DaxShell,
  detachedArgv,
  inNetns,
  pidAlive,
  processStat,
  RecordingShell,
  spawnDetached,
} from "../lib/shell.ts";
import { which } from "../lib/capabilities.ts";

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
  assert.deepEqual(argv.slice(0, 6), [
    "env",
    "LOGFILE=/r/srv.log",
    "EXITFILE=",
    "nsenter",
    "--net=/run/netns/h2",
    "--",
  ]);
  assert.deepEqual(argv.slice(6, 9), ["setsid", "--fork", "bash"]);
  // The waiter starts the program in its own session and stays to reap it.
  assert.match(argv[10], /setsid "\$@" & echo \$! > "\$0"; wait \$!/);
  assert.deepEqual(argv.slice(-4), ["/r/srv.pid", "srv", "-p", "80"]);
  const withExit = detachedArgv(["srv"], { logFile: "/l", pidFile: "/p", exitFile: "/r/exit" });
  assert.equal(withExit[2], "EXITFILE=/r/exit");
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
    assert.equal(Deno.readLinkSync(`/proc/${pid}/exe`), Deno.realPathSync(which("sleep")!));
    // Until sleep sleeps, its own start-up may hold a file open for a moment (the C library's
    // locale archive, seen in a VM's slow CPU): what we look for is what it inherited.
    for (let i = 0; i < 2000 && processStat(pid)?.state !== "S"; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
    const fds = [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => e.name).sort();
    assert.deepEqual(fds, ["0", "1", "2"]);
    assert.equal(Deno.readLinkSync(`/proc/${pid}/fd/0`), "/dev/null");
    assert.equal(Deno.readLinkSync(`/proc/${pid}/fd/1`), `${dir}/log`);
  } finally {
    if (pid) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnDetached: the program leads its own session and its waiting parent reaps it", async () => {
  const dir = await Deno.makeTempDir();
  let pid = 0;
  try {
    pid = await spawnDetached(new DaxShell(), ["sleep", "30"], {
      logFile: `${dir}/log`,
      pidFile: `${dir}/pid`,
      exitFile: `${dir}/exit`,
    });
    const stat = processStat(pid)!;
    assert.equal(stat.sid, pid, "session leader: CRIU needs no --shell-job");
    assert.equal(stat.pgrp, pid);
    // Not PID 1 (which reaps late): a bash that waits for it, holding none of our descriptors.
    assert.notEqual(stat.ppid, 1);
    assert.equal(Deno.readLinkSync(`/proc/${stat.ppid}/exe`), Deno.realPathSync(which("bash")!));
    const parentFds = [...Deno.readDirSync(`/proc/${stat.ppid}/fd`)]
      .map((e) => Deno.readLinkSync(`/proc/${stat.ppid}/fd/${e.name}`)).sort();
    assert.deepEqual(parentFds, ["/dev/null", `${dir}/log`, `${dir}/log`]);
    assert.equal(Number.parseInt(await Deno.readTextFile(`${dir}/pid`), 10), pid);

    Deno.kill(pid, "SIGKILL");
    // The waiter writes the status only after wait returned, i.e. after reaping the process.
    let status = "";
    for (let i = 0; i < 500 && !status.endsWith("\n"); i++) {
      await new Promise((r) => setTimeout(r, 10));
      status = await Deno.readTextFile(`${dir}/exit`).catch(() => "");
    }
    assert.equal(status, "137\n");
    assert.equal(processStat(pid), undefined, "no zombie left behind");
    pid = 0;
  } finally {
    if (pid) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("processStat parses state, parent, group and session; undefined for no process", () => {
  const self = processStat(Deno.pid)!;
  assert.match(self.state, /^[RS]$/);
  assert.equal(self.ppid, Deno.ppid);
  assert.equal(processStat(2 ** 22 + 1), undefined);
});
