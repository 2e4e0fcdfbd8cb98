/** The controller's HTTP API and its client, against fake P4Runtime switches. */
import assert from "node:assert/strict";
import { ControllerApi, ControllerApiError } from "../../lib/controller/api_client.ts";
import { startControllerService } from "../../lib/controller/http.ts";
import { UserError } from "../../lib/errors.ts";
import { planLabEntries } from "../../lib/lb/entries.ts";
import { TABLES } from "../../lib/p4/lb_program.ts";
import { viewPlanned } from "../../lib/controller/switch_entries.ts";
import { sortViews, startFakes } from "./_fake.ts";
import { oneSwitchLab } from "./_lab.ts";
import { pipelineTest } from "./_pipeline.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

await pipelineTest("HTTP API: health, backends, add, migrate, remove, entries", async (paths) => {
  const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-" });
  const fakes = await startFakes(paths, [0]);
  const lines: string[] = [];
  try {
    const lab = oneSwitchLab(runDir, fakes.ports[0]);
    const service = await startControllerService(lab, {
      pipeline: paths,
      verifySwitchOwner: false,
      handleSignals: false,
      log: (l) => lines.push(l),
    });
    try {
      assert.match(service.api.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(service.api.port, 0);
      const address = JSON.parse(await Deno.readTextFile(`${runDir}/controller.json`));
      assert.equal(address.url, service.api.url);
      assert.equal(address.pid, Deno.pid);

      const api = await ControllerApi.forLab(lab);
      const health = await api.health();
      assert.equal(health.ok, true);
      assert.deepEqual(health.switches.map((s) => [s.name, s.connected, s.primary]), [[
        "s1",
        true,
        true,
      ]]);
      assert.deepEqual((await api.backends()).backends, [
        { id: 1, host: "h2", ip: "10.0.2.10", slots: 16 },
      ]);

      const added = await api.addBackend("h3");
      assert.deepEqual(added.backend, { id: 2, host: "h3", ip: "10.0.3.10", slots: 8 });
      const moved = await api.migrateBackend("h2", "h4");
      assert.deepEqual([moved.action, moved.backend.host, moved.from?.host], [
        "migrate",
        "h4",
        "h2",
      ]);
      const removed = await api.removeBackend(2);
      assert.equal(removed.backend.host, "h3");
      assert.deepEqual((await api.backends()).backends.map((b) => [b.id, b.host, b.slots]), [
        [1, "h4", 16],
      ]);

      const want = sortViews(
        viewPlanned(fakes.p4info, planLabEntries(lab, service.controller.state())),
      );
      assert.deepEqual(sortViews(await api.entries("s1")), want);
      assert.deepEqual(sortViews(await api.entries()), want);
      assert.deepEqual(fakes.entries(0, "s1"), want);
      assert.deepEqual((await api.verify()).map((v) => v.inSync), [true]);
      const counters = await api.counters();
      assert.deepEqual(counters.backends, [{ id: 1, host: "h4", packets: 0, bytes: 0 }]);
      assert.equal(counters.drops.noBackend, 0);

      // Bad input: 400 with a hint, nothing written.
      const rpcs = fakes.writeRpcs();
      const bad: [() => Promise<unknown>, number, RegExp, RegExp][] = [
        [() => api.addBackend("h9"), 400, /no host "h9"/, /hosts/],
        [() => api.addBackend("h4"), 400, /already serves/, /free hosts/],
        [() => api.migrateBackend("h3", "h2"), 400, /No backend "h3"/, /h4 \(id 1\)/],
        [() => api.removeBackend("nope"), 400, /No backend "nope"/, /h4/],
        [() => api.entries("s9"), 400, /no switch "s9"/, /s1/],
      ];
      for (const [op, status, message, hint] of bad) {
        await assert.rejects(op, (err: unknown) => {
          assert.ok(err instanceof ControllerApiError);
          assert.equal(err.status, status);
          assert.match(err.message, message);
          assert.match(err.hint ?? "", hint);
          return true;
        });
      }
      assert.equal(fakes.writeRpcs(), rpcs);
      assert.deepEqual(fakes.entries(0, "s1"), want);

      // Raw HTTP: unknown route, wrong method, bad JSON.
      const raw = async (
        method: string,
        path: string,
        body?: string,
        headers: Record<string, string> = {
          authorization: `Bearer ${address.token}`,
          "content-type": "application/json",
        },
      ) => {
        const res = await fetch(`${service.api.url}${path}`, { method, body, headers });
        return { status: res.status, body: await res.json() };
      };
      assert.equal((await raw("GET", "/nope")).status, 404);
      assert.equal((await raw("DELETE", "/backends/%zz")).status, 400);

      // Only the owner steers it: token, loopback Host, no Origin, JSON bodies, bounded size.
      assert.equal((await Deno.stat(`${runDir}/controller.json`)).mode! & 0o077, 0);
      assert.match(address.token, /^[0-9a-f]{64}$/);
      const json = { "content-type": "application/json" };
      const auth = { authorization: `Bearer ${address.token}` };
      const refused: [string, string, string | undefined, Record<string, string>, number][] = [
        ["POST", "/backends", '{"host":"h3"}', json, 401],
        ["DELETE", "/backends/h4", undefined, {}, 401],
        ["GET", "/health", undefined, { authorization: "Bearer 00" }, 401],
        ["POST", "/backends", '{"host":"h3"}', { ...auth, "content-type": "text/plain" }, 415],
        ["POST", "/backends", '{"host":"h3"}', { ...json, ...auth, origin: "http://evil" }, 403],
        [
          "POST",
          "/backends",
          JSON.stringify({ host: "x".repeat(70_000) }),
          { ...json, ...auth },
          413,
        ],
      ];
      for (const [method, path, body, headers, status] of refused) {
        assert.equal((await raw(method, path, body, headers)).status, status, `${method} ${path}`);
      }
      // DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends its own Host (fetch
      // cannot set one, so this is raw HTTP/1.1).
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: service.api.port });
      await conn.write(
        new TextEncoder().encode(
          `GET /backends HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${address.token}` +
            "\r\nConnection: close\r\n\r\n",
        ),
      );
      const answer = new TextDecoder().decode(
        await new Response(conn.readable).arrayBuffer(),
      );
      assert.match(answer, /^HTTP\/1\.1 403/);
      // A body larger than the cap sent without a length is cut off while it arrives.
      let chunks = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (chunks++ < 64) c.enqueue(new Uint8Array(16 * 1024).fill(0x20));
          else c.close();
        },
      });
      const streamed = await fetch(`${service.api.url}/backends`, {
        method: "POST",
        body: stream,
        headers: { ...json, ...auth },
      });
      assert.equal(streamed.status, 413);
      await streamed.body?.cancel();
      // Another local user can read neither the token nor steer the switch.
      if (Deno.uid() === 0) {
        const nobody = await new Deno.Command("setpriv", {
          args: [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "cat",
            `${runDir}/controller.json`,
          ],
          stdout: "null",
          stderr: "null",
        }).output();
        assert.notEqual(nobody.code, 0, "user nobody read the controller's token");
      }
      assert.deepEqual((await api.backends()).backends.map((b) => b.host), ["h4"]);
      assert.equal((await raw("POST", "/health")).status, 405);
      const notJson = await raw("POST", "/backends", "{host");
      assert.deepEqual(notJson, {
        status: 400,
        body: { error: "Request body is not JSON", hint: 'send {"host": "<host name>"}' },
      });
      assert.equal((await raw("PUT", "/backends/h4", JSON.stringify({ host: 3 }))).status, 400);
      assert.equal(fakes.writeRpcs(), rpcs);
      assert.ok(lines.some((l) => /^PUT \/backends\/h2 200 /.test(l)), lines.join("\n"));

      // Migration round trips through HTTP (fake switch: this is the controller's own cost).
      const rtt: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        await api.migrateBackend(1, i % 2 ? "h4" : "h3");
        rtt.push(performance.now() - t0);
      }
      console.log(`fake switch: HTTP migrate p50 ${median(rtt).toFixed(2)} ms over 20`);
      const backendEntry = fakes.entries(0, "s1").find((e) => e.table === TABLES.backends);
      assert.equal(backendEntry?.params.backend_ip, "10.0.4.10");
    } finally {
      await service.stop();
    }
    await service.stopped;
    await assert.rejects(() => Deno.stat(`${runDir}/controller.json`), Deno.errors.NotFound);
    await assert.rejects(() => ControllerApi.forLab(lab), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /controller of lab ".*" is not running/);
      assert.match(err.hint ?? "", /deno task lab up p4t-ctl1-/);
      return true;
    });
    // A stale address: nothing listens there any more.
    const stale = new ControllerApi(service.api.url, { lab: lab.name });
    await assert.rejects(() => stale.health(), /is not running \(nothing answers at/);
  } finally {
    await fakes.stop();
    await Deno.remove(runDir, { recursive: true });
  }
});

await pipelineTest("HTTP API: a switch failure is a 500 with a hint", async (paths) => {
  const runDir = await Deno.makeTempDir({ prefix: "p4t-ctl-" });
  const fakes = await startFakes(paths, [0]);
  try {
    const lab = oneSwitchLab(runDir, fakes.ports[0]);
    const service = await startControllerService(lab, {
      pipeline: paths,
      verifySwitchOwner: false,
      handleSignals: false,
      rpcTimeoutMs: 1000,
    });
    try {
      await fakes.stop(); // the switch goes away
      const api = await ControllerApi.forLab(lab);
      await assert.rejects(() => api.migrateBackend("h2", "h3"), (err: unknown) => {
        assert.ok(err instanceof ControllerApiError);
        assert.equal(err.status, 500);
        assert.match(err.message, /Switch "s1" rejected the change/);
        assert.match(err.hint ?? "", /restart the controller/);
        return true;
      });
      assert.equal(service.controller.state().backends[0].host, "h2");
      const health = await api.health();
      assert.equal(health.ok, false);
      assert.equal(health.switches[0].inSync, false);
    } finally {
      await service.stop();
    }
  } finally {
    await fakes.stop();
    await Deno.remove(runDir, { recursive: true });
  }
});
