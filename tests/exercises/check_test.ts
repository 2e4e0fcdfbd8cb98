/**
 * The grader against the real labs: for each exercise the starter file fails and the reference
 * solution passes. Each exercise's lab runs under a unique name, id and ports, so these tests
 * never touch a lab a student (or another test) has up.
 */
import assert from "node:assert/strict";
import type { Capability } from "../../lib/capabilities.ts";
import { checkExercise, type CheckResult } from "../../lib/exercises/check.ts";
import type { LabIdentity } from "../../lib/exercises/lab_identity.ts";
import { labRunDir } from "../../lib/lab/paths.ts";
import { capTest } from "../_caps.ts";

function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** A unique identity: id `t` + 4 random characters, free gRPC and Thrift ports. */
function testIdentity(exercise: number): LabIdentity {
  const rand = crypto.randomUUID().replace(/-/g, "").slice(0, 4);
  for (let i = 0; i < 50; i++) {
    const grpcPort = 52000 + Math.floor(Math.random() * 2000);
    const thriftPort = 9400 + Math.floor(Math.random() * 500);
    if (portFree(grpcPort) && portFree(thriftPort)) {
      return { name: `p4t-ex${exercise}-${rand}`, id: `t${rand}`, grpcPort, thriftPort };
    }
  }
  throw new Error("no free ports");
}

function failed(result: CheckResult): string[] {
  return result.criteria.filter((c) => c.status !== "pass").map((c) => c.title);
}

function show(result: CheckResult): string {
  return JSON.stringify(result.criteria, null, 2);
}

/** Checks the starter (must fail) and the solution (must pass) on one unique lab identity. */
function exerciseTest(
  exercise: number,
  needs: Capability[],
  expectStarter: (result: CheckResult, identity: LabIdentity) => void,
) {
  capTest({
    name: `exercise ${exercise}: the starter fails the check, the solution passes`,
    needs,
    // BMv2, CRIU and Podman keep descriptors and processes the sanitizers would flag.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const identity = testIdentity(exercise);
      try {
        const starter = await checkExercise(exercise, { labIdentity: identity });
        assert.equal(starter.passed, false, show(starter));
        // Failing is reported, never a crash: every failure says what was seen.
        for (const c of starter.criteria.filter((c) => c.status === "fail")) {
          assert.ok(c.detail, `criterion "${c.title}" failed without a detail`);
        }
        expectStarter(starter, identity);
        const solution = await checkExercise(exercise, {
          labIdentity: identity,
          useSolution: true,
        });
        assert.equal(solution.passed, true, show(solution));
        console.log(
          `exercise ${exercise}: starter ${(starter.totalMs / 1000).toFixed(1)} s, ` +
            `solution ${(solution.totalMs / 1000).toFixed(1)} s`,
        );
      } finally {
        await Deno.remove(labRunDir(identity.name), { recursive: true }).catch(() => {});
      }
      await assertNothingLeft(identity.id);
    },
  });
}

async function assertNothingLeft(id: string): Promise<void> {
  const netns = new TextDecoder().decode(
    (await new Deno.Command("ip", { args: ["netns", "list"] }).output()).stdout,
  );
  assert.ok(!netns.split("\n").some((l) => l.startsWith(`${id}-`)), `netns left: ${netns}`);
  const links = new TextDecoder().decode(
    (await new Deno.Command("ip", { args: ["-o", "link"] }).output()).stdout,
  );
  assert.ok(!links.includes(` ${id}-`), "switch ports left");
}

exerciseTest(1, ["root", "netns", "bmv2"], (r) => {
  assert.deepEqual(r.criteria.map((c) => c.status), [
    "fail",
    "skip",
    "skip",
    "skip",
    "skip",
    "skip",
    "skip",
  ]);
  assert.match(r.criteria[0].detail!, /load_balancer is missing/);
});

exerciseTest(2, ["root", "netns", "bmv2"], (r) => {
  assert.deepEqual(failed(r), r.criteria.slice(1).map((c) => c.title), "only the run passes");
  assert.match(r.criteria.at(-2)!.detail!, /0 of 16 connections answered/);
});

exerciseTest(3, ["root", "netns", "bmv2", "criu"], (r) => {
  assert.deepEqual(failed(r), [
    "the server listens on h3, and no longer on h2",
    "the switch sends the VIP's connections to h3",
    "every client connection survived",
    "the counters went on where they were",
    "CRIU's connection lock is gone from h2",
  ]);
});

exerciseTest(4, ["root", "netns", "bmv2", "criu", "podman"], (r, identity) => {
  assert.deepEqual(failed(r), [
    `the server container runs in pod ${identity.id}-h3`,
    "the switch sends the VIP's connections to h3",
    "every client connection survived",
    "the counters went on where they were",
  ]);
});

exerciseTest(5, ["root", "netns", "bmv2"], (r) => {
  // With the starter's two slots, where a burst of new connections goes depends on one bit of
  // the hash, constant within a burst: "new connections reach h2" passes half of the time.
  const random = "new connections reach h2";
  assert.deepEqual(failed(r).filter((t) => t !== random), [
    "existing backends keep their ids and addresses",
    "the new backend gets an unused id (1..255)",
    "the slot table keeps its size",
    "only slots handed to the new backend change",
    "8 of 8 open connections survive adding h2",
  ]);
  assert.match(
    r.criteria.find((c) => c.title.startsWith("8 of 8"))!.detail!,
    /0 of 8 connections kept/,
  );
});
