import assert from "node:assert/strict";
import { formatTable } from "../lib/table.ts";

Deno.test("formatTable aligns text left and numbers right", () => {
  const out = formatTable(["phase", "ms"], [["dump", "112.0"], ["restore", "61.5"]]);
  assert.equal(
    out,
    ["phase       ms", "-------  -----", "dump     112.0", "restore   61.5"].join("\n"),
  );
});
