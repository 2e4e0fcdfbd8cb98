import assert from "node:assert/strict";
import { clientKept, clientVerdict, formatVerdict } from "../../lib/migrate/client_verdict.ts";
import type { WorkloadPlacement } from "../../lib/workloads/start.ts";
import { testLab } from "../topology/_lab.ts";

/** counter_client lines: one answer every 10 ms per connection, from `start`, `n` of them. */
function answers(conn: number, start: number, n: number, firstCount = 1): string[] {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      t: start + i * 10,
      conn,
      seq: i,
      latency_ms: 0.4,
      count: firstCount + i,
    }));
}

async function verdictOf(lines: string[], waitMs = 0) {
  const { lab, runRoot } = await testLab("process-migration");
  try {
    const logFile = `${runRoot}/client.log`;
    await Deno.writeTextFile(logFile, lines.join("\n") + "\n");
    const placements: WorkloadPlacement[] = [
      { name: "client", kind: "process", host: "h1", logFile },
    ];
    return await clientVerdict(lab, placements, { sinceMs: Date.now() - 1500, waitMs });
  } finally {
    await Deno.remove(runRoot, { recursive: true });
  }
}

Deno.test("connections answering up to now are kept", async () => {
  const now = Date.now();
  const d = (await verdictOf([...answers(0, now - 2000, 200), ...answers(1, now - 2000, 200)]))!;
  assert.equal(d.client, "client");
  assert.deepEqual(d.silentConnections, []);
  assert.equal(d.anyBroken, false);
  assert.ok(clientKept(d));
  assert.match(formatVerdict(d), /every connection kept, counters continuous$/);
});

Deno.test("a connection silent since its server went away is broken, not kept", async () => {
  // The client has logged no failure yet (it waits out its 20 s request timeout), but
  // connection 1 has not been answered for 3 s.
  const now = Date.now();
  const d = (await verdictOf([...answers(0, now - 4000, 400), ...answers(1, now - 4000, 100)]))!;
  assert.deepEqual(d.silentConnections, [1]);
  assert.deepEqual(d.brokenConnections, [], "no failure was logged");
  assert.equal(d.anyBroken, true);
  assert.equal(clientKept(d), false);
  assert.match(formatVerdict(d), /connections NOT answering: 1/);
});

Deno.test("a counter that jumped is reported, and fails the verdict", async () => {
  const now = Date.now();
  const d = (await verdictOf([...answers(0, now - 2000, 100), ...answers(0, now - 1000, 100, 1)]))!;
  assert.equal(d.countsContinuous, false);
  assert.equal(clientKept(d), false);
  assert.match(formatVerdict(d), /counters NOT continuous$/);
});

Deno.test("a lab without a counter client has no verdict, which keeps nothing from passing", async () => {
  const { lab, runRoot } = await testLab("process-migration");
  await Deno.remove(runRoot, { recursive: true });
  const verdict = await clientVerdict(lab, [], { sinceMs: 0 });
  assert.equal(verdict, undefined);
  assert.ok(clientKept(verdict));
});
