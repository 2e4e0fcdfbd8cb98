import assert from "node:assert/strict";
import { up } from "../../lib/topology/apply.ts";
import { BMV2_IMAGE } from "../../lib/topology/bmv2_image.ts";
import { removeState } from "../../lib/topology/state.ts";
import { status } from "../../lib/topology/status.ts";
import {
  pathDirs,
  switchContainerArgv,
  type SwitchStartContext,
} from "../../lib/topology/switch_start.ts";
import { down } from "../../lib/topology/teardown.ts";
import { pidAlive, RecordingShell } from "../../lib/shell.ts";
import { silentProgress } from "../../lib/progress.ts";
import { capTest } from "../_caps.ts";
import { leftovers, sh, testLab, uniqueSwitchPorts } from "./_lab.ts";
import { bareSwitch } from "./_switch.ts";

Deno.test("a containerised switch mounts the directories its argv refers to and logs to the lab", async () => {
  assert.deepEqual(
    pathDirs([
      "x",
      "/a/b/prog.json",
      "--log-file=/run/l/s1",
      "-i",
      "1@eth0",
      "/a/b/c/d.txt",
      "rel/x",
    ]),
    ["/a/b", "/run/l"],
  );
  const { lab, runRoot } = await testLab("switch-container");
  try {
    const ctx: SwitchStartContext = {
      lab,
      switch: lab.switches[0],
      shell: new RecordingShell(),
      progress: silentProgress,
      runDir: lab.runDir!,
      logFile: `${lab.runDir}/s1.log`,
      pidFile: `${lab.runDir}/s1.pid`,
      pcapDir: `${lab.runDir}/pcaps`,
      containerName: lab.switches[0].container!,
      labels: { "p4cf.lab": lab.name },
    };
    const argv = switchContainerArgv(ctx, "img", [
      "simple_switch_grpc",
      "--pcap",
      `${lab.runDir}/pcaps`,
      "/p4/build/lb.json",
      "-i",
      "1@x",
    ]);
    assert.deepEqual(argv, [
      "podman",
      "run",
      "--detach",
      "--name",
      `${lab.id}-s1`,
      "--label",
      `p4cf.lab=${lab.name}`,
      "--network",
      "host",
      "--privileged",
      "--log-driver",
      "k8s-file",
      "--log-opt",
      `path=${lab.runDir}/s1.log`,
      "--volume",
      "/p4/build:/p4/build",
      "--volume",
      `${lab.runDir}:${lab.runDir}`,
      "img",
      "--pcap",
      `${lab.runDir}/pcaps`,
      "/p4/build/lb.json",
      "-i",
      "1@x",
    ]);
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
});

capTest({
  name: "process-migration with a real BMv2: up starts the switch, down stops it (timed)",
  needs: ["netns", "bmv2"],
  fn: async () => {
    const { lab, runRoot } = await testLab("process-migration", uniqueSwitchPorts);
    try {
      const t0 = performance.now();
      const result = await up(lab, { startSwitch: bareSwitch });
      const upMs = performance.now() - t0;
      assert.deepEqual(result.skipped, []);
      const st = await status(lab);
      assert.equal(st.switches[0].running, true);
      const pid = st.switches[0].pid!;
      assert.match(
        await Deno.readTextFile(`/proc/${pid}/cmdline`),
        new RegExp(`1@${lab.id}-s1-eth1`),
      );
      assert.equal((await up(lab, { startSwitch: bareSwitch })).alreadyUp, true);
      const t1 = performance.now();
      await down(lab);
      const downMs = performance.now() - t1;
      assert.equal(pidAlive(pid), false);
      assert.deepEqual(await leftovers(lab, false), []);
      const switchMs = result.steps.find((s) => s.kind === "start-switch")!.ms;
      console.log(
        `process-migration with BMv2: up ${upMs.toFixed(0)} ms (switch ${
          switchMs.toFixed(0)
        } ms), down ${downMs.toFixed(0)} ms`,
      );
      assert.ok(upMs < 5000 && downMs < 3000, `too slow: up ${upMs} ms, down ${downMs} ms`);
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});

capTest({
  name:
    "with its state file lost, down still finds and stops the lab's switch and removes its namespaces",
  needs: ["netns", "bmv2"],
  fn: async () => {
    const { lab, runRoot } = await testLab("process-migration-4sw", uniqueSwitchPorts);
    try {
      await up(lab, { startSwitch: bareSwitch });
      const pids = (await status(lab)).switches.map((s) => s.pid!);
      assert.equal(pids.length, 4);
      await removeState(lab.runDir!);
      const result = await down(lab);
      assert.equal(result.removed.filter((r) => r.startsWith("switch process")).length, 4);
      assert.ok(pids.every((p) => !pidAlive(p)));
      assert.deepEqual(await leftovers(lab, false), []);
    } finally {
      await down(lab).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});

capTest({
  name: "switch-container: BMv2 runs from an image built FROM scratch out of the machine's BMv2",
  needs: ["netns", "podman", "bmv2"],
  fn: async () => {
    const hadImage = (await sh("podman", "images", "--format", "{{.Repository}}:{{.Tag}}"))
      .includes(BMV2_IMAGE);
    const { lab, runRoot } = await testLab("switch-container", uniqueSwitchPorts);
    try {
      const t0 = performance.now();
      const result = await up(lab, { startSwitch: bareSwitch });
      const upMs = performance.now() - t0;
      const st = await status(lab);
      assert.equal(st.switches[0].running, true, JSON.stringify(st.switches[0]));
      assert.match(
        await sh("podman", "inspect", "--format", "{{.ImageName}}", lab.switches[0].container!),
        /p4cf-bmv2/,
      );
      const switchMs = result.steps.find((s) => s.kind === "start-switch")!.ms;
      console.log(
        `switch-container: up ${upMs.toFixed(0)} ms (switch incl. image ${
          hadImage ? "cached" : "build"
        }: ${switchMs.toFixed(0)} ms)`,
      );
      const t1 = performance.now();
      await down(lab);
      console.log(`switch-container: down ${(performance.now() - t1).toFixed(0)} ms`);
      assert.deepEqual(await leftovers(lab), []);
    } finally {
      await down(lab).catch(() => {});
      if (!hadImage) await sh("podman", "rmi", "--force", BMV2_IMAGE).catch(() => "");
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});
