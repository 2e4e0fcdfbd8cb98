import assert from "node:assert/strict";
import { UserError } from "../../lib/errors.ts";
import { Grader } from "../../lib/exercises/grading.ts";
import { importFunction, importOrFail, runStudent } from "../../lib/exercises/student_code.ts";

Deno.test("importing student code: the function, a missing export, a module that does not load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4t-student-" });
  try {
    await Deno.writeTextFile(`${dir}/good.ts`, "export function f(x: number) { return x + 1; }\n");
    await Deno.writeTextFile(`${dir}/other.ts`, "export const g = 1;\n");
    await Deno.writeTextFile(`${dir}/bad.ts`, "export function f( {\n");
    const f = await importFunction<(x: number) => number>(`${dir}/good.ts`, "f");
    assert.equal(f(1), 2);
    await assert.rejects(() => importFunction(`${dir}/other.ts`, "f"), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /other\.ts does not export a function "f"/);
      return true;
    });
    await assert.rejects(() => importFunction(`${dir}/bad.ts`, "f"), /bad\.ts does not load/);
    const grader = new Grader();
    assert.equal(await importOrFail(grader, "loads", `${dir}/bad.ts`, "f"), undefined);
    assert.equal(grader.criteria[0].status, "fail");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("running student code: value, error with hint, deadline", async () => {
  const ok = await runStudent("f()", () => Promise.resolve(7), 1000);
  assert.equal(ok.value, 7);
  assert.equal(ok.verdict.ok, true);
  const failed = await runStudent(
    "f()",
    () => Promise.reject(new UserError("switch said no", { hint: "lib hint" })),
    1000,
    "default hint",
  );
  assert.deepEqual(failed.verdict, {
    ok: false,
    detail: "f() failed: switch said no",
    hint: "lib hint",
  });
  const plain = await runStudent("f()", () => Promise.reject(new Error("x")), 1000, "default hint");
  assert.equal(plain.verdict.hint, "default hint");
  const slow = await runStudent("f()", () => new Promise<void>((r) => setTimeout(r, 300)), 50);
  assert.match(slow.verdict.detail!, /did not finish within 0\.05 s/);
  await new Promise((r) => setTimeout(r, 300));
});
