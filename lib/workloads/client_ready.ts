/**
 * Waiting for a lab's client to be in full swing: an answer on every one of its connections.
 * CRIU refuses to dump a server while connections still wait in its listen queue ("in-flight"),
 * so benches and tests that open many connections wait for this before they migrate.
 *
 * @module
 */
import type { Lab } from "../lab/types.ts";
import { parseWorkloadLog } from "./client_log.ts";
import { readPlacements } from "./placements.ts";

/** Resolves once the lab's client has had an answer on `connections` connections. */
export async function clientAnswering(
  lab: Lab,
  connections: number,
  timeoutMs = 60_000,
): Promise<void> {
  const name = lab.workloads.find((w) => w.role === "client")?.name;
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while (Date.now() < deadline) {
    const client = (await readPlacements(lab.runDir!)).find((p) => p.name === name);
    const text = client ? await Deno.readTextFile(client.logFile).catch(() => "") : "";
    const answered = new Set(
      parseWorkloadLog(text, "client").filter((r) => r.kind === "answer").map((r) => r.conn),
    );
    seen = answered.size;
    if (seen >= connections) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `The client of lab ${lab.name} had answers on ${seen} of ${connections} connections after ` +
      `${timeoutMs} ms`,
  );
}
