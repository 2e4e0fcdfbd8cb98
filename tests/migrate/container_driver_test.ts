import assert from "node:assert/strict";
import { CommandError } from "../../lib/errors.ts";
import { ContainerDriver } from "../../lib/migrate/container_driver.ts";
import {
  criuConfigPath,
  criuHookPath,
  dumpedPidPath,
  FREEZE_SETTLE_MS,
  restoredPidPath,
} from "../../lib/podman/criu_config.ts";
import { PING_PATH, restorePath } from "../../lib/podman/api.ts";
import { gatePaths } from "../../lib/podman/criu_gate.ts";
import { GATE_GO, GATE_STOP, gateReadSh } from "../../lib/criu/run_gate.ts";
import { copyDump1, DUMP1, DUMP1_SOURCE_IP, DUMP1_TARGET_IP } from "../criu/_fixtures.ts";
import { RecordingShell, type RunOptions, type RunResult, type Shell } from "../../lib/shell.ts";

const base = {
  container: "hc-server",
  sourcePod: "hc-h2",
  targetPod: "hc-h3",
  sourceNetns: "hc-h2",
  fromIp: "10.0.2.2",
  toIp: "10.0.3.3",
};

/** A Shell that plays Podman: it answers like RecordingShell and runs `onRun` first. */
class FakePodman implements Shell {
  readonly inner: RecordingShell;
  constructor(
    private readonly onRun: (line: string) => Promise<void> | void,
    replies: ConstructorParameters<typeof RecordingShell>[0] = [],
  ) {
    this.inner = new RecordingShell(replies);
  }
  async run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    await this.onRun(argv.join(" "));
    return this.inner.run(argv, options);
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "p4t-container-driver-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the hook freezes the container inside CRIU, and a failed checkpoint thaws it", async () => {
  await withDir(async (dir) => {
    const criuConfig = criuConfigPath(dir, "server");
    let configAtCheckpoint = "";
    const shell = new FakePodman(async (line) => {
      if (line.includes("container checkpoint")) {
        configAtCheckpoint = await Deno.readTextFile(criuConfig);
      }
    }, [
      { match: /container checkpoint/, result: { code: 125, stderr: "criu failed" } },
      {
        match: /podman inspect --format \{\{\.State\.Pid\}\} hc-server/,
        result: { stdout: "4321\n" },
      },
    ]);
    const driver = new ContainerDriver({ ...base, shell, checkpointDir: dir, criuConfig });
    assert.match(await driver.prepare(), /^pod ids; CRIU kernel cache /);
    await assert.rejects(driver.dump(), CommandError);
    // No freeze before Podman starts: CRIU runs the hook at its pre-dump point.
    const lines = shell.inner.lines();
    const checkpoint = lines.findIndex((l) => l.includes("container checkpoint"));
    assert.ok(!lines.slice(0, checkpoint).some((l) => l.includes("CRTOOLS_SCRIPT_ACTION")));
    assert.match(configAtCheckpoint, /^network-lock nftables$/m);
    assert.match(configAtCheckpoint, /^action-script .*server-hook\.sh$/m);
    assert.doesNotMatch(configAtCheckpoint, /leave-stopped/);
    const hook = await Deno.readTextFile(criuHookPath(criuConfig));
    assert.match(hook, /pre-dump\) thaw= ;;/);
    assert.match(hook, new RegExp(`sleep ${(FREEZE_SETTLE_MS / 1000).toFixed(3)}; exit 0`));
    const thaw = lines.indexOf(
      `env CRTOOLS_SCRIPT_ACTION=p4cf-thaw CRTOOLS_INIT_PID=4321 ${criuHookPath(criuConfig)}`,
    );
    assert.ok(thaw > checkpoint, "thaw run after");
  });
});

Deno.test("a container started without a CRIU configuration is dumped and restored as Podman does", async () => {
  await withDir(async (dir) => {
    const shell = new RecordingShell([
      { match: /container checkpoint/, result: { code: 125 } },
      { match: /pod inspect/, result: { stdout: "podid\n" } },
    ]);
    const driver = new ContainerDriver({ ...base, shell, checkpointDir: dir });
    await assert.rejects(driver.dump());
    assert.ok(!shell.lines().some((l) => l.startsWith("env ") || l.includes("podman inspect")));
    assert.equal(await driver.restore(), "hc-h3");
    assert.ok(!shell.lines().some((l) => l.startsWith("podman rm")), "the source stays for now");
    assert.equal(await driver.resume(), false);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  });
});

Deno.test("the restored server waits stopped until resume, which lets it run", async () => {
  await withDir(async (dir) => {
    const criuConfig = criuConfigPath(dir, "server");
    // The "restored server": a real process, stopped as CRIU's leave-stopped leaves it.
    const server = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
    try {
      let leaveStoppedAtRestore = false;
      const shell = new FakePodman(async (line) => {
        if (line.includes("container restore")) {
          leaveStoppedAtRestore = /^leave-stopped$/m.test(await Deno.readTextFile(criuConfig));
          // What the hook does at CRIU's pre-resume point.
          await Deno.writeTextFile(restoredPidPath(criuConfig), `${server.pid}\n`);
          Deno.kill(server.pid, "SIGSTOP");
        }
      }, [{ match: /pod inspect --format \{\{\.Id\}\} hc-h3/, result: { stdout: "pod3id\n" } }]);
      const driver = new ContainerDriver({ ...base, shell, checkpointDir: dir, criuConfig });
      assert.match(await driver.prepare(), /^pod ids; CRIU kernel cache /);
      const note = await driver.restore();
      assert.ok(leaveStoppedAtRestore, "restore runs with leave-stopped");
      assert.match(note, new RegExp(`pid ${server.pid} stopped`));
      const lines = shell.inner.lines();
      const restore = lines.findIndex((l) => l.includes("container restore"));
      assert.ok(!lines.some((l) => l.startsWith("podman rm")), "the source is not removed yet");
      assert.ok(lines[restore].endsWith("--pod pod3id"), "restore by pod id, looked up in prepare");
      assert.equal(lines.filter((l) => l.includes("pod inspect")).length, 2, "one lookup per pod");
      assert.equal(processState(server.pid), "T");

      assert.equal(await driver.resume(), true);
      assert.notEqual(processState(server.pid), "T");
      assert.doesNotMatch(await Deno.readTextFile(criuConfig), /leave-stopped/);
      assert.equal(await driver.resume(), false, "idempotent");
    } finally {
      server.kill("SIGKILL");
      await server.status;
    }
  });
});

function processState(pid: number): string {
  return Deno.readTextFileSync(`/proc/${pid}/stat`).replace(/^.*\) /, "")[0];
}

Deno.test("the copy is imported beside the source under a new id and a temporary name", async () => {
  await withDir(async (dir) => {
    const src = `${dir}/src`;
    await Deno.mkdir(`${src}/checkpoint`, { recursive: true });
    const config = `{\n  "spec": {},\n  "id": "${"a".repeat(64)}",\n  "name": "hc-server",\n` +
      `  "pod": "p"\n}\n`;
    await Deno.writeTextFile(`${src}/config.dump`, config);
    await Deno.writeTextFile(`${src}/checkpoint/files.img`, "images");
    const tar = await new Deno.Command("tar", {
      args: ["-C", src, "-cf", `${dir}/checkpoint.tar`, "."],
    })
      .output();
    assert.ok(tar.success);
    const original = await Deno.readFile(`${dir}/checkpoint.tar`);
    const driver = new ContainerDriver({
      ...base,
      shell: new RecordingShell(),
      checkpointDir: dir,
    });
    assert.equal(driver.restoredName, "hc-server-p4cf-next");
    const note = await driver.transfer();
    const out = `${dir}/out`;
    await Deno.mkdir(out);
    assert.ok(
      (await new Deno.Command("tar", { args: ["-C", out, "-xf", driver.targetArchive] })
        .output()).success,
    );
    const copied = JSON.parse(await Deno.readTextFile(`${out}/config.dump`));
    assert.equal(copied.name, "hc-server-p4cf-next");
    assert.match(copied.id, /^[0-9a-f]{64}$/);
    assert.notEqual(copied.id, "a".repeat(64));
    assert.ok(note.includes(copied.id.slice(0, 12)));
    assert.equal(await Deno.readTextFile(`${out}/checkpoint/files.img`), "images");
    // The original is untouched: the rollback restores from it.
    assert.deepEqual(await Deno.readFile(`${dir}/checkpoint.tar`), original);
  });
});

/** A Podman whose `ps` lists these containers (name state), recording every call. */
function podmanListing(listing: string): RecordingShell {
  return new RecordingShell([
    { match: /^podman ps --all --filter name=/, result: { stdout: listing } },
    { match: /pod inspect/, result: { stdout: "podid\n" } },
  ]);
}

Deno.test("prepare finishes a rename an earlier migration left undone", async () => {
  await withDir(async (dir) => {
    const shell = podmanListing("hc-server exited\nhc-server-p4cf-next running\n");
    const driver = new ContainerDriver({ ...base, shell, checkpointDir: dir });
    assert.match(await driver.prepare(), /hc-server-p4cf-next renamed hc-server; /);
    const lines = shell.lines();
    const rm = lines.indexOf("podman rm --force --ignore hc-server");
    const rename = lines.indexOf("podman rename hc-server-p4cf-next hc-server");
    assert.ok(rm >= 0 && rename > rm, lines.join("\n"));
  });
});

Deno.test("prepare removes a temporary container that never ran, and never a running one", async () => {
  await withDir(async (dir) => {
    const shell = podmanListing("hc-server running\nhc-server-p4cf-next created\n");
    const driver = new ContainerDriver({ ...base, shell, checkpointDir: dir });
    assert.match(await driver.prepare(), /removed a leftover hc-server-p4cf-next; /);
    assert.ok(shell.lines().includes("podman rm --force --ignore hc-server-p4cf-next"));
    assert.ok(!shell.lines().includes("podman rm --force --ignore hc-server"));

    const quiet = podmanListing("hc-server running\n");
    const again = new ContainerDriver({ ...base, shell: quiet, checkpointDir: dir });
    assert.doesNotMatch(await again.prepare(), /renamed|removed/);
    assert.ok(!quiet.lines().some((l) => l.startsWith("podman rm") || l.includes("rename")));
  });
});

/**
 * A fake Podman API service on `socket`: answers pings, and restores with `onRestore` once the
 * CRIU gate in `gateDir` opens (as runc's CRIU would), failing when it is aborted.
 */
function fakeService(socket: string, onRestore: () => Promise<void>, gateDir?: string) {
  const listener = Deno.listen({ transport: "unix", path: socket });
  const requests: string[] = [];
  let closed = false;
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      const line = new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
      requests.push(line);
      let status = "200 OK";
      if (!line.startsWith(`GET ${PING_PATH} `)) {
        // Waits at the gate as runc's CRIU would (through the same shell commands).
        const said = gateDir && !closed ? await readGate(gatePaths(gateDir).gate) : GATE_GO;
        if (said !== GATE_GO) status = "500 Internal Server Error";
        else await onRestore();
      }
      await conn.write(new TextEncoder().encode(`HTTP/1.0 ${status}\r\n\r\n{}`));
      conn.close();
    }
  })().catch(() => {});
  const close = async () => {
    closed = true;
    listener.close();
    await serving;
  };
  /** Waits (up to 2 s) for a request line starting with `start` to have arrived. */
  const received = async (start: string) => {
    for (let i = 0; i < 1000 && !requests.some((r) => r.startsWith(start)); i++) {
      await new Promise((r) => setTimeout(r, 2));
    }
    return requests;
  };
  return { requests, close, received };
}

/** What the gate says once it opens (or why it did not), read as the gate script reads it. */
async function readGate(path: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", `${gateReadSh(path, 5)}; echo "$gate"`],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Plays `podman system service` as spawnDetached starts it (`line`): a fake service on the
 * socket in `dir`, and `pid` (a stand-in process) in the pid file.
 */
async function startFakeService(
  line: string,
  dir: string,
  pid: number,
  onRestore: () => Promise<void>,
  gateDir?: string,
): Promise<ReturnType<typeof fakeService>> {
  const service = fakeService(`${dir}/podman.sock`, onRestore, gateDir);
  const pidFile = line.split(" ").find((w) => w.endsWith("podman-service.pid"))!;
  await Deno.writeTextFile(pidFile, `${pid}\n`);
  return service;
}

/** Kills `p` if it still runs and waits for it. */
async function ended(p: Deno.ChildProcess): Promise<void> {
  try {
    p.kill("SIGKILL");
  } catch {
    // already ended
  }
  await p.status;
}

/** Upper and lower directories standing in for a container's overlay layers. */
async function layers(dir: string, name: string): Promise<{ upper: string; lower: string }> {
  const upper = `${dir}/${name}-upper`;
  const lower = `${dir}/${name}-lower`;
  await Deno.mkdir(`${upper}/etc`, { recursive: true });
  await Deno.mkdir(`${lower}/tmp`, { recursive: true });
  return { upper, lower };
}

Deno.test("a prepared target is restored through Podman's API from CRIU's images, not an archive", async () => {
  await withDir(async (dir) => {
    const criuConfig = criuConfigPath(dir, "server");
    const [src, tgt] = [`${dir}/src`, `${dir}/tgt`];
    const images = await copyDump1();
    await Deno.mkdir(src);
    await Deno.rename(images, `${src}/checkpoint`);
    await Deno.mkdir(tgt);
    const [s, t] = [await layers(dir, "src"), await layers(dir, "tgt")];
    await Deno.writeTextFile(`${s.upper}/etc/written`, "by the server");
    // The restored server and the "API service": real processes the driver signals.
    const server = new Deno.Command("sleep", { args: ["30"], stdin: "null" }).spawn();
    // A session leader, as spawnDetached's service is.
    const svc = new Deno.Command("setsid", { args: ["sleep", "30"], stdin: "null" }).spawn();
    let service: ReturnType<typeof fakeService> | undefined;
    let checkpointDone = false;
    let restoredWith = "";
    const createCommand = [
      "/usr/bin/podman",
      "run",
      "--detach",
      "--name",
      "hc-server",
      "--pod",
      "hc-h2",
      "--annotation",
      `org.criu.config=${criuConfig}`,
      "img",
    ];
    try {
      const shell = new FakePodman(async (line) => {
        if (line.includes("system service")) {
          service = fakeService(`${dir}/podman.sock`, async () => {
            // What CRIU's hook does at pre-resume, with leave-stopped.
            restoredWith = await Deno.readTextFile(`${tgt}/checkpoint/inventory.img`);
            await Deno.writeTextFile(restoredPidPath(criuConfig), `${server.pid}\n`);
            Deno.kill(server.pid, "SIGSTOP");
            await new Promise((r) => setTimeout(r, 50)); // Podman's bookkeeping after CRIU
          }, dir);
          const pidFile = line.split(" ").find((w) => w.endsWith("podman-service.pid"))!;
          await Deno.writeTextFile(pidFile, `${svc.pid}\n`);
        }
        if (line.includes("container checkpoint")) {
          // CRIU's dump makes a temporary directory in /tmp: overlayfs copies /tmp up.
          await Deno.mkdir(`${s.upper}/tmp`);
          // CRIU's hook at post-dump; runc and Podman's export take a while longer.
          await Deno.writeTextFile(dumpedPidPath(criuConfig), "77\n");
          await new Promise((r) => setTimeout(r, 300));
          checkpointDone = true;
        }
      }, [
        { match: /CreateCommand/, result: { stdout: JSON.stringify(createCommand) } },
        { match: /pod inspect --format \{\{\.Id\}\} hc-h3/, result: { stdout: "pod3id\n" } },
        {
          match: /StaticDir.* hc-server$/,
          result: { stdout: `${"a".repeat(64)} ${src} ${s.upper} ${s.lower}\n` },
        },
        {
          match: /StaticDir.* hc-server-p4cf-next$/,
          result: { stdout: `${"b".repeat(64)} ${tgt} ${t.upper} ${t.lower}\n` },
        },
      ]);
      const driver = new ContainerDriver({
        ...base,
        fromIp: DUMP1_SOURCE_IP,
        toIp: DUMP1_TARGET_IP,
        shell,
        checkpointDir: dir,
        criuConfig,
      });
      assert.match(
        await driver.prepare(),
        new RegExp(
          `hc-server-p4cf-next prepared in hc-h3; API service pid ${svc.pid}, CRIU gated$`,
        ),
      );
      let lines = shell.inner.lines();
      // The root file system's changes are copied before the freeze, the target unmounted.
      assert.ok(lines.includes(`cp -a ${s.upper}/. ${t.upper}/`), lines.join("\n"));
      const serviceLine = lines.find((l) => l.includes("system service"))!;
      assert.match(serviceLine, new RegExp(`podman --runtime-flag criu=${dir}/criu-gate system`));
      const create = lines.indexOf(
        `podman create --name hc-server-p4cf-next --pod pod3id --annotation ` +
          `org.criu.config=${criuConfig} img`,
      );
      const init = lines.indexOf("podman init hc-server-p4cf-next");
      const stop = lines.indexOf("podman stop --time 0 hc-server-p4cf-next");
      assert.ok(create >= 0 && init > create && stop > init, lines.join("\n"));

      assert.equal(await driver.dump(), "images written (post-dump)");
      assert.equal(checkpointDone, false, "the window goes on while Podman finishes");
      // The restore was sent with the dump and waits in the gate.
      assert.ok(
        (await service!.received("POST")).includes(
          `POST ${restorePath("hc-server-p4cf-next")} HTTP/1.0`,
        ),
      );
      assert.match(
        await driver.transfer(),
        /^\d+ images into hc-server-p4cf-next \(bbbbbbbbbbbb\)$/,
      );
      assert.match(await driver.rewrite(), /^3 sockets$/);
      // Linked, not copied; the rewrite replaced the target's files.img only.
      const other = [...Deno.readDirSync(DUMP1)].find((e) => e.name !== "files.img")!.name;
      assert.equal(
        Deno.statSync(`${src}/checkpoint/${other}`).ino,
        Deno.statSync(`${tgt}/checkpoint/${other}`).ino,
      );
      assert.deepEqual(
        await Deno.readFile(`${src}/checkpoint/files.img`),
        await Deno.readFile(`${DUMP1}/files.img`),
      );
      assert.notDeepEqual(
        await Deno.readFile(`${tgt}/checkpoint/files.img`),
        await Deno.readFile(`${DUMP1}/files.img`),
      );
      assert.equal(
        shell.inner.lines().filter((l) => l.startsWith("cp -a")).length,
        1,
        "/tmp copied up by CRIU is no change: no second copy",
      );

      assert.match(await driver.restore(), new RegExp(`pid ${server.pid} stopped`));
      assert.deepEqual(
        restoredWith,
        await Deno.readTextFile(`${DUMP1}/inventory.img`),
        "CRIU ran once the real images were in place",
      );
      lines = shell.inner.lines();
      assert.ok(!lines.some((l) => l.includes("container restore")), "no podman command restores");
      assert.equal(await driver.resume(), true);
      // The service is stopped once it has answered.
      assert.equal((await svc.status).signal, "SIGTERM");
    } finally {
      server.kill("SIGKILL");
      await server.status;
      await ended(svc);
      await service?.close();
    }
  });
});

Deno.test("a failed dump fails the gated restore, removes the prepared target, stops the service", async () => {
  await withDir(async (dir) => {
    // A session leader, as spawnDetached's service is.
    const svc = new Deno.Command("setsid", { args: ["sleep", "30"], stdin: "null" }).spawn();
    let service: ReturnType<typeof fakeService> | undefined;
    try {
      const shell = new FakePodman(async (line) => {
        if (line.includes("system service")) {
          service = await startFakeService(line, dir, svc.pid, () => Promise.resolve(), dir);
        }
      }, [
        {
          match: /CreateCommand/,
          result: { stdout: '["podman","run","--name","hc-server","--pod","hc-h2","img"]' },
        },
        { match: /StaticDir/, result: { stdout: `${"a".repeat(64)} ${dir} ${dir} ${dir}\n` } },
        { match: /container checkpoint/, result: { code: 125, stderr: "criu failed" } },
      ]);
      const criuConfig = criuConfigPath(dir, "server");
      const driver = new ContainerDriver({ ...base, shell, checkpointDir: dir, criuConfig });
      assert.match(await driver.prepare(), /prepared in hc-h3; API service pid \d+, CRIU gated$/);
      await assert.rejects(driver.dump(), CommandError);
      // The restore sent with the dump was failed through the gate before the removal.
      assert.equal(Deno.readTextFileSync(gatePaths(dir).gate).trim(), GATE_STOP);
      assert.equal(service!.requests.filter((r) => r.startsWith("POST")).length, 1);
      const lines = shell.inner.lines();
      const checkpoint = lines.findIndex((l) => l.includes("container checkpoint"));
      assert.ok(
        lines.indexOf("podman rm --force --ignore hc-server-p4cf-next") > checkpoint,
        lines.join("\n"),
      );
      assert.equal((await svc.status).signal, "SIGTERM");
    } finally {
      await ended(svc);
      await service?.close();
    }
  });
});

Deno.test("a prepared restore whose API service is gone is made by the podman command", async () => {
  await withDir(async (dir) => {
    const svc = new Deno.Command("setsid", { args: ["sleep", "30"], stdin: "null" }).spawn();
    let service: ReturnType<typeof fakeService> | undefined;
    try {
      const shell = new FakePodman(async (line) => {
        if (line.includes("system service")) {
          service = await startFakeService(line, dir, svc.pid, () => Promise.resolve());
        }
      }, [
        {
          match: /CreateCommand/,
          result: { stdout: '["podman","run","--name","hc-server","--pod","hc-h2","img"]' },
        },
        { match: /StaticDir/, result: { stdout: `${"a".repeat(64)} ${dir} ${dir} ${dir}\n` } },
      ]);
      const driver = new ContainerDriver({ ...base, shell, checkpointDir: dir });
      assert.match(await driver.prepare(), /API service pid/);
      // Its idle time ran out during a long dump.
      await service!.close();
      await Deno.remove(`${dir}/podman.sock`).catch(() => {});
      assert.equal(await driver.restore(), "hc-h3");
      assert.ok(
        shell.inner.lines().includes(
          "podman container restore --tcp-established hc-server-p4cf-next",
        ),
        shell.inner.lines().join("\n"),
      );
    } finally {
      await ended(svc);
    }
  });
});
