import assert from "node:assert/strict";
import { parseDumpStats } from "../../lib/criu/stats.ts";

// stats-dump written by CRIU 4.2.1 for `podman container checkpoint` of the lab's counter server.
const REAL = Uint8Array.from(
  ("40 59 10 55 06 33 09 57 23 00 00 00 0a 21 08 ec 92 06 10 86 8e 03 18 df 01 20 57 28 3c 30 " +
    "00 38 33 40 00 48 00 50 04 58 04 60 00 68 00 70 00").split(" ").map((h) => parseInt(h, 16)),
);

Deno.test("parseDumpStats reads CRIU's times and page counts", () => {
  assert.deepEqual(parseDumpStats(REAL), {
    freezingMs: 100.716,
    frozenMs: 50.95,
    memdumpMs: 0.223,
    memwriteMs: 0.087,
    pagesScanned: 60,
    pagesSkippedParent: 0,
    pagesWritten: 51,
  });
});

Deno.test("parseDumpStats refuses other images and restore statistics", () => {
  assert.throws(() => parseDumpStats(REAL.subarray(0, 10)), /Cannot read CRIU image/);
  // The same stats image holding only restore statistics (field 2).
  const restoreOnly = Uint8Array.from([...REAL.subarray(0, 8), 2, 0, 0, 0, 0x12, 0]);
  assert.throws(() => parseDumpStats(restoreOnly), /no dump statistics/);
});
