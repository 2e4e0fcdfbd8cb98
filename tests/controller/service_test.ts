/** The controller service as its own process: found through its address file, stops on SIGTERM. */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ControllerApi } from "../../lib/controller/api_client.ts";
import type { Lab } from "../../lib/lab/types.ts";
import { pipelineTest } from "./_pipeline.ts";

const SCRIPT = fileURLToPath(new URL("./_fixtures/serve_fake.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  await pipelineTest(`the service shuts down cleanly on ${signal}`, async (paths) => {
    const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-svc-" });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        CONFIG,
        SCRIPT,
        runDir,
        paths.p4infoJson,
        paths.p4infoBinary,
        paths.bmv2Json,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    try {
      const deadline = Date.now() + 20_000;
      let lab: Lab | undefined;
      while (!lab && Date.now() < deadline) {
        lab = await Deno.readTextFile(`${runDir}/lab.json`).then(JSON.parse, () => undefined);
        if (!lab) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(lab, "the service did not start");
      const api = await ControllerApi.forLab(lab);
      assert.equal((await api.health()).ok, true);
      await api.migrateBackend("h2", "h3");
      child.kill(signal);
      const out = await output;
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);
      assert.match(text, /stopped cleanly/);
      await assert.rejects(() => Deno.stat(`${runDir}/controller.json`), Deno.errors.NotFound);
      const saved = JSON.parse(await Deno.readTextFile(`${runDir}/lb_state.json`));
      assert.equal(saved.state.backends[0].host, "h3");
      await assert.rejects(() => ControllerApi.forLab(lab), /is not running/);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await output.catch(() => {});
      await Deno.remove(runDir, { recursive: true });
    }
  });
}
