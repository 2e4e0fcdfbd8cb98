import assert from "node:assert/strict";
import type { CheckResult } from "../../lib/exercises/grading.ts";
import {
  HINTS,
  hintText,
  nextHint,
  rememberResult,
  studentStatePath,
  wrapText,
} from "../../lib/exercises/hints.ts";

const FAILED: CheckResult = {
  exercise: 3,
  title: "Migrate a process",
  file: "lab/exercises/3-migrate-process/migrate.ts",
  solution: false,
  student: "alice",
  criteria: [
    { title: "it returns the pid", status: "pass", ms: 1 },
    {
      title: "the switch moved only after the restore",
      status: "fail",
      detail: "the switch was changed at +60 ms, when nothing ran on h3 yet",
      hint: "in which order must the steps run?",
      ms: 1,
    },
    { title: "every client connection survived", status: "fail", detail: "2 broke", ms: 1 },
  ],
  passed: false,
  totalMs: 3000,
};

Deno.test("three stages: the idea, the tools, then what the last check found", async () => {
  const root = await Deno.makeTempDir({ prefix: "p4t-hints-" });
  try {
    const first = await nextHint(3, "alice", root);
    assert.match(first, /^Exercise 3, hint 1 of 3 \(the idea\)/);
    assert.ok(first.includes(wrapText(HINTS[3].concept)));
    assert.match(await nextHint(3, "alice", root), /hint 2 of 3 \(the tools\)/);
    assert.match(await nextHint(3, "alice", root), /Run `sudo deno task lab check 3` first/);
    await rememberResult(FAILED, root);
    const third = await nextHint(3, "alice", root);
    assert.match(third, /hint 3 of 3 \(your solution\)/);
    assert.match(third, /failed first on: the switch moved only after the restore/);
    assert.match(third, /What it saw: the switch was changed at \+60 ms/);
    assert.match(third, /1 more criteria are not there yet/);
    // Per student, per exercise.
    assert.match(await nextHint(3, "bob", root), /hint 1 of 3/);
    assert.match(await nextHint(2, "alice", root), /hint 1 of 3/);
    assert.ok(studentStatePath("alice", root).endsWith("/.run/exercises/students/alice.json"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("hints teach, they do not hand out code", () => {
  for (const [n, h] of Object.entries(HINTS)) {
    for (const text of [h.concept, h.tools]) {
      assert.doesNotMatch(text, /\(\{|=>|await |insertEntry\(|migrateBackend\(/, `exercise ${n}`);
    }
  }
  assert.match(hintText(1, 3, { ...FAILED, exercise: 1, passed: true }), /passed every criterion/);
});
