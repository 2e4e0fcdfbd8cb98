/**
 * Shared pieces of the CRIU tier tests: a started nft-stand-in rig (server on the source, a
 * client with warm connections), CRIU's lock tables in a namespace, and the client's verdict.
 */
import assert from "node:assert/strict";
import { MigrationRig } from "../../lib/criu/selfcheck_rig.ts";
import { defaultShell, inNetns } from "../../lib/shell.ts";
import { computeDowntime } from "../../lib/workloads/client_log.ts";

export const NEEDS = ["netns", "criu"] as const;
/** Client connections every rig opens. */
export const CONNS = 2;

/** A unique name prefix, so runs never collide. */
export function prefix(): string {
  return `p4t${crypto.randomUUID().slice(0, 6)}`;
}

/** Names of CRIU's nftables lock tables in a namespace. */
export async function criuTables(netns: string): Promise<string[]> {
  const out = await defaultShell.run(inNetns(netns, ["nft", "list", "tables"]));
  return out.stdout.split("\n").filter((l) => l.includes("CRIU-"));
}

/** A rig with the server on the source and a client with CRIU's connections warmed up. */
export async function startedRig(): Promise<{ rig: MigrationRig; pid: number }> {
  const rig = await MigrationRig.create({ prefix: prefix() });
  try {
    const pid = await rig.startServer("source");
    await rig.startClient(CONNS);
    await rig.waitForAnswers(CONNS, 10);
    return { rig, pid };
  } catch (err) {
    await rig.dispose();
    throw err;
  }
}

/**
 * The client kept every connection and every counter continued since `sinceMs`; answers are
 * awaited from `answersFromMs` (default `sinceMs`).
 */
export async function assertClientIntact(
  rig: MigrationRig,
  sinceMs: number,
  answersFromMs = sinceMs,
): Promise<void> {
  await rig.waitForAnswers(CONNS, 10, answersFromMs, 8000);
  await rig.stopClient();
  const report = computeDowntime(await rig.clientRecords(), { migrationStartMs: sinceMs });
  assert.equal(report.anyBroken, false);
  assert.equal(report.countsContinuous, true);
  assert.equal(report.connections.length, CONNS);
}
