import assert from "node:assert/strict";
import { benchPreDump } from "../../lib/bench/predump.ts";
import { criuCanTrackMemory } from "../../lib/criu/checkpoint.ts";
import { missing } from "../_caps.ts";

const reasons = missing(["root", "netns", "criu"]);
if (!reasons.length && !(await criuCanTrackMemory())) {
  reasons.push("CRIU reports no memory tracking (mem_dirty_track)");
}
if (reasons.length) console.log(`SKIP pre-dump benchmark: ${reasons.join("; ")}`);

Deno.test({
  name: "pre-dump rounds leave the final dump only the pages the server changed",
  ignore: reasons.length > 0,
  async fn() {
    const r = await benchPreDump({ ballastMb: 16, count: 2, rounds: [0, 1] });
    const [plain, pre] = r.settings;
    assert.equal(plain.kept, 2);
    assert.equal(pre.kept, 2);
    // 16 MB is 4096 pages: all of them without a pre-dump, a handful after one.
    assert.ok(Math.min(...plain.pagesWritten) >= 4096, String(plain.pagesWritten));
    assert.ok(Math.max(...pre.pagesWritten) < 1024, String(pre.pagesWritten));
    assert.ok(pre.preDumpPause !== undefined);
  },
});
