import assert from "node:assert/strict";
import { loadLab } from "../../lib/lab/load.ts";
import { CRIU_CONFIG_ANNOTATION, criuConfigPath } from "../../lib/podman/criu_config.ts";
import { planWorkloadStart } from "../../lib/workloads/start.ts";

const paths = { counter_server: "/bin/counter_server", counter_client: "/bin/counter_client" };

Deno.test("a container workload is started with its CRIU configuration named by annotation", async () => {
  const lab = await loadLab("host-containers");
  const server = lab.workloads.find((w) => w.name === "server")!;
  const plan = planWorkloadStart(lab, server, paths, "/r/labs/host-containers");
  const conf = criuConfigPath("/r/labs/host-containers", "server");
  assert.equal(plan.criuConfig, conf);
  const i = plan.argv.indexOf("--annotation");
  assert.ok(i > 0 && plan.argv[i + 1] === `${CRIU_CONFIG_ANNOTATION}=${conf}`);
  assert.ok(i < plan.argv.indexOf(plan.image!.tag), "an option of podman run, not of the program");
});

Deno.test("a process workload has no CRIU configuration file", async () => {
  const lab = await loadLab("process-migration");
  const server = lab.workloads.find((w) => w.name === "server")!;
  const plan = planWorkloadStart(lab, server, paths, "/r/labs/pm");
  assert.equal(plan.criuConfig, undefined);
  assert.ok(!plan.argv.includes("--annotation"));
});
