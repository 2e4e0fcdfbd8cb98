/**
 * The controller against a real BMv2 `simple_switch_grpc` (no interfaces: table state only):
 * programs it, migrates through the HTTP API, reads the entries back, and times migrations.
 */
import assert from "node:assert/strict";
import { capTest } from "../_caps.ts";
import { type RunningSwitch, startSwitch, stopSwitch } from "../../lib/bmv2/switch.ts";
import { ControllerApi } from "../../lib/controller/api_client.ts";
import { benchApiMigrations } from "../../lib/controller/bench.ts";
import { Controller } from "../../lib/controller/controller.ts";
import { startControllerService } from "../../lib/controller/http.ts";
import { sortViews } from "./_fake.ts";
import { oneSwitchLab } from "./_lab.ts";
import { lbPipeline } from "./_pipeline.ts";

const found = await lbPipeline();

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const NAME = "BMv2: program, migrate over HTTP, read back, restart, time 50 migrations";
if ("reason" in found) {
  console.log(`SKIP ${NAME}: ${found.reason}`);
  Deno.test({ name: NAME, ignore: true, fn: () => {} });
} else {
  const paths = found.paths;
  capTest({
    name: NAME,
    needs: ["bmv2"],
    fn: async () => {
      const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-bmv2-" });
      const lab = oneSwitchLab(runDir, freePort(), 1);
      const sw = { ...lab.switches[0], thriftPort: freePort() };
      lab.switches = [sw];
      let running: RunningSwitch | undefined;
      try {
        // No interfaces: the ports exist only as table entries.
        running = await startSwitch({ ...sw, ports: [] }, { runDir, logLevel: "warn" });
        const service = await startControllerService(lab, {
          pipeline: paths,
          handleSignals: false,
        });
        const api = await ControllerApi.forLab(lab);
        try {
          const c = service.controller;
          assert.equal((await api.health()).ok, true);
          assert.deepEqual(sortViews(await api.entries("s1")), sortViews(c.plannedEntries("s1")));

          const moved = await api.migrateBackend("h2", "h3");
          assert.ok(moved.updates >= 1);
          assert.equal(moved.backend.ip, "10.0.3.10");
          const after = sortViews(await api.entries("s1"));
          assert.deepEqual(after, sortViews(c.plannedEntries("s1")));
          assert.ok(after.some((e) => e.params.backend_ip === "10.0.3.10"));
          assert.deepEqual((await api.verify()).map((v) => v.inSync), [true]);
          const counters = await api.counters();
          assert.deepEqual(counters.backends, [{ id: 1, host: "h3", packets: 0, bytes: 0 }]);

          await api.addBackend("h4");
          await api.removeBackend("h4");
          const bench = await benchApiMigrations(api, {
            backend: 1,
            hosts: ["h2", "h3"],
            rounds: 50,
          });
          console.log(
            `BMv2: migrate via HTTP over ${bench.rounds}: p50 ${bench.http.p50} ms, p90 ` +
              `${bench.http.p90} ms, max ${bench.http.max} ms; switch Write p50 ` +
              `${bench.switchWrite.p50} ms, p90 ${bench.switchWrite.p90} ms`,
          );
          assert.ok(bench.http.p50 < 100, `p50 ${bench.http.p50} ms`);
          assert.ok(bench.switchWrite.p50 <= bench.http.p50);
          // 4 warm-up + 50 rounds from h3: an even count ends on h3.
          assert.equal((await api.backends()).backends[0].host, "h3");
          assert.deepEqual(sortViews(await api.entries()), sortViews(c.plannedEntries()));
        } finally {
          await service.stop();
        }

        // A restarted controller: same state, and the switch keeps its pipeline and entries.
        await using again = new Controller(lab, { pipeline: paths });
        await again.start();
        assert.equal(again.state().backends[0].host, "h3");
        const h = again.health().switches[0];
        assert.equal(h.pipeline, "kept", "BMv2 reports the pipeline cookie");
        assert.equal(h.writeRpcs, 0);
        assert.deepEqual(sortViews(await again.readEntries()), sortViews(again.plannedEntries()));
      } finally {
        if (running) await stopSwitch(running);
        await Deno.remove(runDir, { recursive: true });
      }
    },
  });
}
