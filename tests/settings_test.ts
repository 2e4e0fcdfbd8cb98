import assert from "node:assert/strict";
import { UserError } from "../lib/errors.ts";
import { nonNegativeSetting } from "../lib/settings.ts";

Deno.test("a numeric setting: unset or blank is undefined, a number is read, anything else named", () => {
  assert.equal(nonNegativeSetting("P4CF_X", undefined, "seconds", "h"), undefined);
  assert.equal(nonNegativeSetting("P4CF_X", " ", "seconds", "h"), undefined);
  assert.equal(nonNegativeSetting("P4CF_X", "0", "seconds", "h"), 0);
  assert.equal(nonNegativeSetting("P4CF_X", "2.5", "seconds", "h"), 2.5);
  for (const bad of ["soon", "-1", "Infinity"]) {
    assert.throws(
      () => nonNegativeSetting("P4CF_X", bad, "microseconds", "set it right"),
      (e: unknown) =>
        e instanceof UserError && e.message === `P4CF_X="${bad}" is not a number of microseconds` &&
        e.hint === "set it right",
    );
  }
});
