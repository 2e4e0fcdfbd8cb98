import assert from "node:assert/strict";
import { deleteNftTable } from "../../lib/net/nft_table.ts";
import { RecordingShell } from "../../lib/shell.ts";

const argv = ["nft", "delete", "table", "inet", "t"];
const failing = (stderr: string) =>
  new RecordingShell([{ match: /nft delete/, result: { code: 1, stderr } }]);

Deno.test("deleteNftTable: removed, absent, or an error naming what was undone", async () => {
  const removed = new RecordingShell();
  assert.equal(await deleteNftTable(removed, argv, "x"), true);
  assert.deepEqual(removed.calls, [argv]);
  const absent = failing("Error: Could not process rule: No such file or directory");
  assert.equal(await deleteNftTable(absent, argv, "x"), false);
  await assert.rejects(
    () => deleteNftTable(failing("Error: Operation not permitted\n"), argv, "Cannot unsilence p"),
    { message: "Cannot unsilence p: Error: Operation not permitted" },
  );
});
