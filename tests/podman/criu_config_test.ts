import assert from "node:assert/strict";
import {
  criuConfigPath,
  criuConfigText,
  criuHookPath,
  dumpedPidPath,
  hookArgv,
  restoredPidPath,
  THAW_ACTION,
  writeCriuConfig,
} from "../../lib/podman/criu_config.ts";
import { defaultShell } from "../../lib/shell.ts";
import { capTest } from "../_caps.ts";

Deno.test("the CRIU configuration locks with nftables and names the hook; leave-stopped on request", () => {
  const base = criuConfigText({ actionScript: "/run/lab/criu/server-hook.sh" }).split("\n");
  assert.ok(base.includes("network-lock nftables"));
  assert.ok(base.includes("action-script /run/lab/criu/server-hook.sh"));
  assert.ok(!base.includes("leave-stopped"));
  const restore = criuConfigText({ actionScript: "/h.sh", leaveStopped: true }).split("\n");
  assert.ok(restore.includes("leave-stopped"));
  // CRIU's config format: no leading dashes on options.
  assert.ok(base.filter((l) => l && !l.startsWith("#")).every((l) => !l.startsWith("-")));
});

Deno.test("a workload's CRIU files sit together under the lab's run directory", () => {
  const conf = criuConfigPath("/r/labs/hc", "server");
  assert.equal(conf, "/r/labs/hc/criu/server.conf");
  assert.equal(criuHookPath(conf), "/r/labs/hc/criu/server-hook.sh");
  assert.equal(restoredPidPath(conf), "/r/labs/hc/criu/server.restored-pid");
});

async function runHook(hook: string, action: string, pid: number): Promise<number> {
  const out = await new Deno.Command(hook, {
    env: { CRTOOLS_SCRIPT_ACTION: action, CRTOOLS_INIT_PID: String(pid) },
  }).output();
  return out.code;
}

Deno.test("the hook records the dumped pid at post-dump, the restored one at pre-resume, ignores others", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-criu-config-" });
  try {
    const conf = `${dir}/it's here/server.conf`;
    await writeCriuConfig(conf);
    const hook = criuHookPath(conf);
    assert.equal(await runHook(hook, "network-unlock", 4242), 0);
    await assert.rejects(Deno.stat(restoredPidPath(conf)));
    await assert.rejects(Deno.stat(dumpedPidPath(conf)));
    // post-dump: every image is written; the migration may restore from them.
    assert.equal(await runHook(hook, "post-dump", 4141), 0);
    assert.equal((await Deno.readTextFile(dumpedPidPath(conf))).trim(), "4141");
    await assert.rejects(Deno.stat(restoredPidPath(conf)));
    assert.equal(await runHook(hook, "pre-resume", 4242), 0);
    assert.equal((await Deno.readTextFile(restoredPidPath(conf))).trim(), "4242");
    // Rewriting the configuration keeps the hook and switches leave-stopped on and off.
    await writeCriuConfig(conf, { leaveStopped: true });
    assert.match(await Deno.readTextFile(conf), /^leave-stopped$/m);
    await writeCriuConfig(conf);
    assert.doesNotMatch(await Deno.readTextFile(conf), /leave-stopped/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A cgroup of our own with one sleeping process in it, v1 freezer or v2. */
async function cgroupWithSleeper(): Promise<
  { pid: number; state: () => string; dispose(): Promise<void> }
> {
  const name = `p4t${crypto.randomUUID().slice(0, 6)}`;
  const v1 = "/sys/fs/cgroup/freezer";
  const isV1 = await Deno.stat(v1).then((s) => s.isDirectory, () => false);
  const dir = isV1 ? `${v1}/${name}` : `/sys/fs/cgroup/${name}`;
  await Deno.mkdir(dir);
  const child = new Deno.Command("sleep", { args: ["30"], stdin: "null", stdout: "null" }).spawn();
  await Deno.writeTextFile(`${dir}/cgroup.procs`, String(child.pid));
  return {
    pid: child.pid,
    state: () =>
      isV1
        ? Deno.readTextFileSync(`${dir}/freezer.state`).trim()
        : /^frozen 1$/m.test(Deno.readTextFileSync(`${dir}/cgroup.events`))
        ? "FROZEN"
        : "THAWED",
    async dispose() {
      if (isV1) await Deno.writeTextFile(`${dir}/freezer.state`, "THAWED");
      else await Deno.writeTextFile(`${dir}/cgroup.freeze`, "0");
      child.kill("SIGKILL");
      await child.status;
      await Deno.remove(dir);
    },
  };
}

capTest({
  name: "the hook freezes the dumped task's cgroup at pre-dump and thaws it on request",
  needs: ["root"],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "p4t-criu-config-" });
    const cg = await cgroupWithSleeper();
    try {
      const conf = `${dir}/server.conf`;
      await writeCriuConfig(conf);
      assert.equal(cg.state(), "THAWED");
      assert.equal(await runHook(criuHookPath(conf), "pre-dump", cg.pid), 0);
      assert.equal(cg.state(), "FROZEN", "frozen before CRIU would look");
      await defaultShell.run(hookArgv(conf, THAW_ACTION, cg.pid));
      assert.equal(cg.state(), "THAWED");
    } finally {
      await cg.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
