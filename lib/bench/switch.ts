/**
 * Benchmarks of the switch control path against a real BMv2: P4Runtime MODIFY latency and batched
 * insert throughput (on a test program with a 64K-entry table, since the load balancer's tables
 * are small), the client's resident memory holding 10,000 entries, and the controller's
 * migrate round trip through its HTTP API in a running lab.
 *
 * @module
 */
import type { Switch } from "../lab/types.ts";
import { loadLab } from "../lab/load.ts";
import { labDown, labUp } from "../lab/session.ts";
import { ControllerApi } from "../controller/api_client.ts";
import { benchApiMigrations, type MigrateBenchResult } from "../controller/bench.ts";
import { startSwitch, stopSwitch } from "../bmv2/switch.ts";
import { benchP4Runtime, type BenchResult } from "../p4runtime/bench.ts";
import { P4RuntimeClient } from "../p4runtime/client.ts";
import { P4Info } from "../p4runtime/p4info.ts";
import { UpdateType } from "../p4runtime/messages.ts";

const FIXTURE = new URL("../../tests/fixtures/build/", import.meta.url).pathname;

export interface P4RuntimeBench extends BenchResult {
  /** Resident memory of this process holding 10,000 entries it wrote and read back, MB. */
  rssMbHolding10k: number;
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
    const p4info = await P4Info.load(`${FIXTURE}/p4rt_fixture.p4info.json`);
    await using client = await P4RuntimeClient.connect({ address: running.grpcAddress, p4info });
    await client.setPipeline({
      p4infoBinary: await Deno.readFile(`${FIXTURE}/p4rt_fixture.p4info.bin`),
      bmv2Json: await Deno.readFile(`${FIXTURE}/p4rt_fixture.json`),
    });
    const match = (i: number) => ({ dstAddr: 0x0a000000 + (i >> 16), srcPort: i & 0xffff });
    const params = (i: number) => ({ ip: 0x0a000101 + (i % 2), port: 8080 });
    // Memory first, in a process that has not yet made the benchmark's garbage.
    const specs = Array.from({ length: 10_000 }, (_, i) => ({
      table: "vip",
      action: "set_backend",
      match: match(i),
      params: params(i),
    }));
    await client.writeEntries(UpdateType.INSERT, specs);
    const readBack = await client.readTable("vip");
    if (readBack.length < 10_000) throw new Error(`read back ${readBack.length} of 10000 entries`);
    (globalThis as { gc?: () => void }).gc?.();
    const rssMbHolding10k = Deno.memoryUsage().rss / 2 ** 20;
    await client.writeEntries(UpdateType.DELETE, specs);
    const result = await benchP4Runtime(client, {
      table: "vip",
      action: "set_backend",
      match,
      params,
    });
    return { ...result, rssMbHolding10k };
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
