import assert from "node:assert/strict";
import { newState, writeState } from "../../lib/topology/state.ts";
import { down } from "../../lib/topology/teardown.ts";
import { capTest } from "../_caps.ts";
import { randomTag, sh, testLab } from "./_lab.ts";

capTest({
  name: "down with a forged state file removes nothing foreign (link, netns, process, pid file)",
  needs: ["netns"],
  fn: async () => {
    const { lab, runRoot } = await testLab("process-migration");
    const tag = randomTag();
    const link = `p4tfor${tag}`;
    const netns = `p4tforeign${tag}`;
    const pidFile = `${runRoot}/../p4t-foreign-${tag}.pid`;
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      await sh("ip", "link", "add", link, "type", "veth", "peer", "name", `p4tfop${tag}`);
      await sh("ip", "netns", "add", netns);
      await Deno.writeTextFile(pidFile, `${sleeper.pid}\n`);
      await Deno.mkdir(lab.runDir!, { recursive: true });
      const state = newState({ name: lab.name, id: lab.id!, file: lab.file }, "forged");
      state.phase = "up";
      state.objects = [
        { kind: "link", name: link },
        { kind: "netns", name: netns },
        { kind: "process", name: "s1", pidFile, comm: "sleep" },
        { kind: "nft-table", name: "filter" },
      ];
      await writeState(lab.runDir!, state);
      const warnings: string[] = [];
      const result = await down(lab, {
        progress: { step: () => () => {}, info: () => {}, warn: (m: string) => warnings.push(m) },
      });
      assert.equal(result.failed.length, 4, JSON.stringify(result));
      assert.equal(warnings.filter((w) => /^left .* alone/.test(w)).length, 4, warnings.join("\n"));
      assert.match(await sh("ip", "link", "show", link), new RegExp(link));
      assert.match(await sh("ip", "netns", "list"), new RegExp(netns));
      assert.equal(Deno.readTextFileSync(`/proc/${sleeper.pid}/comm`).trim(), "sleep");
      assert.ok(Deno.statSync(pidFile).isFile, "the pid file outside the run dir is kept");
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
      await sh("ip", "link", "del", link).catch(() => {});
      await sh("ip", "netns", "del", netns).catch(() => {});
      await Deno.remove(pidFile).catch(() => {});
      await Deno.remove(runRoot, { recursive: true });
    }
  },
});
