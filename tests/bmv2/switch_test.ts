import assert from "node:assert/strict";
import type { Switch } from "../../lib/lab/types.ts";
import {
  bmv2Argv,
  type RunningSwitch,
  startSwitch,
  stopSwitch,
  switchFiles,
} from "../../lib/bmv2/switch.ts";
import { pidAlive } from "../../lib/shell.ts";
import { capTest } from "../_caps.ts";

const s1: Switch = {
  name: "s1",
  kind: "bmv2",
  deviceId: 3,
  grpcPort: 50053,
  thriftPort: 9093,
  ports: [
    { port: 2, iface: "p4t-s1p2", mac: "02:00:00:00:02:01", peer: { kind: "host", host: "h2" } },
    { port: 1, iface: "p4t-s1p1", mac: "02:00:00:00:01:01", peer: { kind: "host", host: "h1" } },
  ],
};

Deno.test("bmv2 argv: ports in order, ids, logs, no program, gRPC on loopback", () => {
  assert.deepEqual(bmv2Argv(s1, { runDir: "/run/x/" }), [
    "simple_switch_grpc",
    "--device-id",
    "3",
    "-i",
    "1@p4t-s1p1",
    "-i",
    "2@p4t-s1p2",
    "--thrift-port",
    "9093",
    "--notifications-addr",
    "ipc:///run/x/s1-notifications.ipc",
    "--log-file",
    "/run/x/s1.log",
    "--log-level",
    "info",
    "--log-flush",
    "--no-p4",
    "--",
    "--grpc-server-addr",
    "127.0.0.1:50053",
  ]);
});

Deno.test("bmv2 argv: program, pcap, log level, cpu port and binary", () => {
  const argv = bmv2Argv(s1, {
    runDir: "/r",
    bmv2Json: "p4/build/lb.json",
    pcap: true,
    logLevel: "trace",
    cpuPort: 255,
    binary: "/opt/bin/simple_switch_grpc",
  });
  assert.equal(argv[0], "/opt/bin/simple_switch_grpc");
  assert.ok(argv.includes("--pcap=/r/s1-pcap"));
  assert.equal(argv[argv.indexOf("--log-level") + 1], "trace");
  assert.ok(!argv.includes("--no-p4"));
  const sep = argv.indexOf("--");
  assert.equal(argv[sep - 1], "p4/build/lb.json");
  assert.deepEqual(argv.slice(sep), [
    "--",
    "--grpc-server-addr",
    "127.0.0.1:50053",
    "--cpu-port",
    "255",
  ]);
  assert.equal(switchFiles(s1, "/r").pidFile, "/r/s1.pid");
});

capTest({
  name: "startSwitch waits for the gRPC port; stopSwitch ends the process",
  needs: ["bmv2"],
  fn: async () => {
    const runDir = await Deno.makeTempDir({ prefix: "p4t-bmv2-" });
    const port = () => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const p = (l.addr as Deno.NetAddr).port;
      l.close();
      return p;
    };
    const sw: Switch = { ...s1, ports: [], grpcPort: port(), thriftPort: port() };
    let running: RunningSwitch | undefined;
    try {
      const t0 = performance.now();
      running = await startSwitch(sw, { runDir });
      console.log(`  gRPC port open after ${(performance.now() - t0).toFixed(0)} ms`);
      assert.ok(pidAlive(running.pid));
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: sw.grpcPort });
      conn.close();
      await stopSwitch(running);
      assert.ok(!pidAlive(running.pid));
    } finally {
      if (running) await stopSwitch(running);
      await Deno.remove(runDir, { recursive: true });
    }
  },
});
