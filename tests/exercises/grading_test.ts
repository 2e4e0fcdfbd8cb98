import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import {
  type CheckResult,
  fail,
  formatCheckResult,
  Grader,
  pass,
} from "../../lib/exercises/grading.ts";

Deno.test("the grader records verdicts, turns thrown errors into failures, and skips", async () => {
  const g = new Grader();
  assert.equal(await g.check("one", () => pass("fine")), true);
  assert.equal(await g.check("two", () => fail("broken", "fix it")), false);
  assert.equal(
    await g.check("three", () => {
      throw new UserError("no such thing", { hint: "make it" });
    }),
    false,
  );
  assert.equal(await g.check("four", () => Promise.reject(new RangeError("too big"))), false);
  g.skip(["five", "six"], "three must pass first");
  assert.deepEqual(
    g.criteria.map((c) => [c.title, c.status, c.detail, c.hint]),
    [
      ["one", "pass", "fine", undefined],
      ["two", "fail", "broken", "fix it"],
      ["three", "fail", "no such thing", "make it"],
      ["four", "fail", "RangeError: too big", undefined],
      ["five", "skip", "three must pass first", undefined],
      ["six", "skip", "three must pass first", undefined],
    ],
  );
  assert.equal(g.passed, false);
  const ok = new Grader();
  assert.equal(ok.passed, false, "no criteria is not a pass");
  await ok.check("only", () => pass());
  assert.equal(ok.passed, true);
});

Deno.test("a passing hint is not shown; the result prints marks, details, hints and a tally", () => {
  const result: CheckResult = {
    exercise: 2,
    title: "Program the load balancer",
    file: "lab/exercises/2-program-lb/program_lb.ts",
    solution: false,
    criteria: [
      { title: "runs", status: "pass", detail: "finished in 3 ms", ms: 3 },
      {
        title: "vip",
        status: "fail",
        detail: "no entry\nfor 10.0.0.100",
        hint: "insert it",
        ms: 1,
      },
      { title: "answers", status: "skip", detail: "the VIP must work first", ms: 0 },
    ],
    passed: false,
    totalMs: 4200,
  };
  assert.equal(
    formatCheckResult(result),
    [
      "Exercise 2: Program the load balancer",
      "checked your file lab/exercises/2-program-lb/program_lb.ts",
      "",
      "  ✓ runs",
      "      finished in 3 ms",
      "  ✗ vip",
      "      no entry",
      "      for 10.0.0.100",
      "      hint: insert it",
      "  - answers",
      "      not checked: the VIP must work first",
      "",
      "1 of 3 criteria passed (4.2 s): not there yet. `lab check 2 --hint` gives a hint.",
    ].join("\n"),
  );
  assert.match(
    formatCheckResult({ ...result, criteria: [result.criteria[0]], passed: true, solution: true }),
    /checked reference solution[\s\S]*All 1 criteria passed \(4\.2 s\)\.$/,
  );
  assert.match(formatCheckResult({ ...result, student: "alice" }), /program_lb\.ts for alice\n/);
});
