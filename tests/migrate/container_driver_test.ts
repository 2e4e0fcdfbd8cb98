import assert from "node:assert/strict";
import { CommandError } from "../../lib/errors.ts";
import { ContainerDriver } from "../../lib/migrate/container_driver.ts";
import {
  criuConfigPath,
  criuHookPath,
  FREEZE_SETTLE_MS,
  restoredPidPath,
} from "../../lib/podman/criu_config.ts";
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
    assert.match(await driver.prepare(), /hc-server-p4cf-next renamed hc-server$/);
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
    assert.match(await driver.prepare(), /removed a leftover hc-server-p4cf-next$/);
    assert.ok(shell.lines().includes("podman rm --force --ignore hc-server-p4cf-next"));
    assert.ok(!shell.lines().includes("podman rm --force --ignore hc-server"));

    const quiet = podmanListing("hc-server running\n");
    const again = new ContainerDriver({ ...base, shell: quiet, checkpointDir: dir });
    assert.doesNotMatch(await again.prepare(), /renamed|removed/);
    assert.ok(!quiet.lines().some((l) => l.startsWith("podman rm") || l.includes("rename")));
  });
});
