import assert from "node:assert/strict";
import { labDown, labUp } from "../../lib/runtime/session.ts";
import { type LabHealth, superviseActions, supervisorFiles } from "../../lib/runtime/supervisor.ts";
import { silentProgress } from "../../lib/progress.ts";
import { parseWorkloadLog } from "../../lib/workloads/client_log.ts";
import { readPlacements } from "../../lib/workloads/placements.ts";
import { livePid } from "../../lib/topology/objects.ts";
import { capTest } from "../_caps.ts";
import { leftovers, testLab, uniqueSwitchPorts } from "../topology/_lab.ts";

const healthy: LabHealth = {
  up: true,
  migrating: false,
  deadSwitches: [],
  controllerAlive: true,
  controllerCrashed: false,
};

Deno.test("supervisor: a dead switch is started and then programmed by a fresh controller", () => {
  assert.deepEqual(superviseActions(healthy), []);
  assert.deepEqual(superviseActions({ ...healthy, deadSwitches: ["s1"] }), [
    { kind: "restart-switch", switch: "s1" },
    { kind: "restart-controller" },
  ]);
  assert.deepEqual(
    superviseActions({ ...healthy, controllerAlive: false, controllerCrashed: true }),
    [{ kind: "restart-controller" }],
  );
});

Deno.test("supervisor: waits out a migration, leaves a controller stopped on purpose, stops with the lab", () => {
  assert.deepEqual(superviseActions({ ...healthy, migrating: true, deadSwitches: ["s1"] }), []);
  assert.deepEqual(superviseActions({ ...healthy, controllerAlive: false }), []);
  assert.deepEqual(superviseActions({ ...healthy, up: false }), [{ kind: "stop" }]);
});

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

capTest({
  name:
    "supervisor: kill -9 of the switch, then of the controller: both come back, the connection lives on",
  needs: ["netns", "bmv2"],
  async fn() {
    const { lab, runRoot } = await testLab("process-migration", uniqueSwitchPorts);
    const runDir = lab.runDir!;
    try {
      await labUp(lab, { progress: silentProgress });
      assert.ok(livePid(supervisorFiles(runDir).pidFile, "deno"), "the supervisor runs");
      const client = (await readPlacements(runDir)).find((p) => p.name === "client")!;
      const answers = async () =>
        parseWorkloadLog(await Deno.readTextFile(client.logFile), client.logFile);
      for (const [victim, comm] of [["s1.pid", "simple_switch_grpc"], ["controller.pid", "deno"]]) {
        const pid = livePid(`${runDir}/${victim}`, comm)!;
        Deno.kill(pid, "SIGKILL");
        const before = (await answers()).length;
        await waitFor(`${victim} back`, () => {
          const now = livePid(`${runDir}/${victim}`, comm);
          return now !== undefined && now !== pid;
        });
        // Answers flow again through the restarted, reprogrammed switch.
        await waitFor("answers again", async () => (await answers()).length > before + 20, 15_000);
      }
      const records = await answers();
      assert.ok(records.every((r) => r.kind === "answer"), "no connection broke");
      const counts = records.filter((r) => r.kind === "answer").map((r) => r.count);
      assert.ok(counts.every((c, i) => i === 0 || c === counts[i - 1] + 1), "counter continuous");
    } finally {
      await labDown(lab, { progress: silentProgress });
      assert.deepEqual(await leftovers(lab), []);
      assert.equal(livePid(supervisorFiles(runDir).pidFile, "deno"), undefined);
      await Deno.remove(runRoot, { recursive: true }).catch(() => {});
    }
  },
});
