/**
 * Benchmarks of the switch control path against a real BMv2: P4Runtime MODIFY latency and batched
 * insert throughput (on a test program with a 64K-entry table, since the load balancer's tables
 * are small), the resident memory of a controller process holding 10,000 entries, and the
 * controller's migrate round trip through its HTTP API in a running lab.
 *
 * @module
 */
import type { Switch } from "../lab/types.ts";
import { loadLab } from "../lab/load.ts";
import { labDown, labUp } from "../runtime/session.ts";
import { ControllerApi } from "../controller/api_client.ts";
import { benchApiMigrations, type MigrateBenchResult } from "../controller/bench.ts";
import { startSwitch, stopSwitch } from "../bmv2/switch.ts";
import { benchP4Runtime, type BenchResult } from "../p4runtime/bench.ts";
import { P4RuntimeClient } from "../p4runtime/client.ts";
import { P4Info } from "../p4runtime/p4info.ts";
import {
  type ControllerMemory,
  FIXTURE_DIR,
  measureControllerMemory,
  vipMatch,
  vipParams,
} from "./controller_memory.ts";

export interface P4RuntimeBench extends BenchResult {
  /** Resident memory of a controller process holding 10,000 entries it wrote and read back, MB. */
  rssMbHolding10k: number;
  /** The whole measurement of that process (see lib/bench/controller_memory.ts). */
  controllerMemory: ControllerMemory;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Runs the P4Runtime benchmark on a throwaway BMv2 with no ports. */
export async function benchSwitchP4Runtime(runDir: string): Promise<P4RuntimeBench> {
  const sw: Switch = {
    name: "bench",
    kind: "bmv2",
    deviceId: 0,
    grpcPort: freePort(),
    thriftPort: freePort(),
    ports: [],
  };
  const running = await startSwitch(sw, { runDir, logLevel: "off" });
  try {
    // Memory first, in its own controller process, which leaves 10,000 entries on the switch;
    // pushing the pipeline again below clears them.
    const controllerMemory = await measureControllerMemory(running.grpcAddress);
    const p4info = await P4Info.load(`${FIXTURE_DIR}/p4rt_fixture.p4info.json`);
    // A higher election id than the measured process's, whose stream the switch may not have
    // seen close yet.
    await using client = await P4RuntimeClient.connect({
      address: running.grpcAddress,
      p4info,
      electionId: 2n,
    });
    await client.setPipeline({
      p4infoBinary: await Deno.readFile(`${FIXTURE_DIR}/p4rt_fixture.p4info.bin`),
      bmv2Json: await Deno.readFile(`${FIXTURE_DIR}/p4rt_fixture.json`),
    });
    const result = await benchP4Runtime(client, {
      table: "vip",
      action: "set_backend",
      match: vipMatch,
      params: vipParams,
    });
    return { ...result, rssMbHolding10k: controllerMemory.rssMb, controllerMemory };
  } finally {
    await stopSwitch(running);
  }
}

/** Times `PUT /backends` migrations through a lab's controller (the workloads are unaffected). */
export async function benchControllerMigrate(
  labName: string,
  rounds = 100,
): Promise<MigrateBenchResult> {
  const lab = await loadLab(labName);
  const backend = lab.loadBalancer.backends[0];
  const other = lab.hosts.find((h) =>
    h.name !== backend && !lab.workloads.some((w) => w.role === "client" && w.host === h.name)
  );
  if (!other) throw new Error(`Lab ${lab.name} has no second server host`);
  await labDown(lab);
  await labUp(lab);
  try {
    const api = await ControllerApi.forLab(lab);
    return await benchApiMigrations(api, { backend, hosts: [other.name, backend], rounds });
  } finally {
    await labDown(lab);
  }
}
