import assert from "node:assert/strict";
import { CommandError } from "../../lib/errors.ts";
import { ContainerDriver } from "../../lib/migrate/container_driver.ts";
import { criuConfigPath, criuHookPath, restoredPidPath } from "../../lib/podman/criu_config.ts";
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

Deno.test("the container freezes before the checkpoint, and a failed one thaws it", async () => {
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
    assert.equal(await driver.prepare(), "pod ids, pid 4321");
    await assert.rejects(driver.dump(), CommandError);
    // Frozen by the hook before Podman starts, so requests arriving meanwhile are queued.
    const lines = shell.inner.lines();
    const freeze = lines.findIndex((l) =>
      l.startsWith("env CRTOOLS_SCRIPT_ACTION=pre-dump CRTOOLS_INIT_PID=4321 ") &&
      l.endsWith("server-hook.sh")
    );
    assert.ok(freeze >= 0 && freeze < lines.findIndex((l) => l.includes("container checkpoint")));
    assert.match(configAtCheckpoint, /^network-lock nftables$/m);
    assert.match(configAtCheckpoint, /^action-script .*server-hook\.sh$/m);
    assert.doesNotMatch(configAtCheckpoint, /leave-stopped/);
    const thaw = lines.indexOf(
      `env CRTOOLS_SCRIPT_ACTION=p4cf-thaw CRTOOLS_INIT_PID=4321 ${criuHookPath(criuConfig)}`,
    );
    assert.ok(thaw > lines.findIndex((l) => l.includes("container checkpoint")), "thaw run after");
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
      assert.equal(await driver.prepare(), "pod ids");
      const note = await driver.restore();
      assert.ok(leaveStoppedAtRestore, "restore runs with leave-stopped");
      assert.match(note, new RegExp(`pid ${server.pid} stopped`));
      const lines = shell.inner.lines();
      const rm = lines.findIndex((l) => l.startsWith("podman rm"));
      const restore = lines.findIndex((l) => l.includes("container restore"));
      assert.ok(rm >= 0 && rm < restore, "the stopped source goes before the import");
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
