/** lib/test_report.ts: `deno task test`'s reading of `deno test`'s output. */
import assert from "node:assert/strict";
import {
  formatSkipSummary,
  pairSkips,
  reasonKey,
  type Skip,
  TestReport,
} from "../lib/test_report.ts";

// As `deno test` prints it (NO_COLOR): a file's load-time output, SKIP lines included, comes
// before its header, the first file's as "pre-test output", later ones' as the previous test's
// "post-test output".
const OUTPUT = [
  "------- pre-test output -------",
  "SKIP dump and restore: BMv2 (simple_switch_grpc) is not installed; install it as root",
  "SKIP upstream cross-decode: /opt/p4src is not on this machine",
  "----- pre-test output end -----",
  "running 3 tests from ./tests/a_test.ts",
  "dump and restore ... ignored (0ms)",
  "messages decode identically with p4lang's protos ... ignored (0ms)",
  "a3 ...",
  "  s1 ... ok (0ms)",
  "a3 ... ok (2ms)",
  "------- post-test output -------",
  "SKIP kill during pre-dump: CRIU reports no memory tracking (mem_dirty_track), so it refuses",
  "SKIP b1: BMv2 (simple_switch_grpc) is not installed; install it as root",
  "----- post-test output end -----",
  "running 2 tests from ./tests/b_test.ts",
  "b1 ... ignored (0ms)",
  "b2 ...",
  "------- post-test output -------",
  "hello",
  "----- post-test output end -----",
  "b2 ... ok (437µs)",
  // A test whose name starts like a SKIP line is still a test.
  "SKIP lines are parsed ... ok (1ms)",
  "c3 ... ignored (0ms)",
  "",
  "ok | 4 passed (1 step) | 0 failed | 4 ignored (130ms)",
  "",
].join("\n");

/** Feeds text in pieces of `size` characters, as a pipe might deliver it. */
function run(text: string, size: number): { report: TestReport; out: string } {
  const report = new TestReport();
  let out = "";
  for (let i = 0; i < text.length; i += size) out += report.feed(text.slice(i, i + size));
  out += report.end();
  return { report, out };
}

Deno.test("skip lines move under their file's results, each with its test's full name", () => {
  for (const size of [OUTPUT.length, 1, 7, 64]) {
    const { report, out } = run(OUTPUT, size);
    const lines = out.split("\n");
    const at = (text: string) => lines.indexOf(text);
    assert.ok(at("running 3 tests from ./tests/a_test.ts") >= 0, `size ${size}:\n${out}`);
    // Under file a's results, before file b's header; none above its header.
    const aSkips = [
      "SKIP dump and restore: BMv2 (simple_switch_grpc) is not installed; install it as root",
      "SKIP messages decode identically with p4lang's protos: /opt/p4src is not on this machine",
    ];
    for (const l of aSkips) {
      assert.ok(at(l) > at("a3 ... ok (2ms)"), `${l}\n${out}`);
      assert.ok(at(l) < at("running 2 tests from ./tests/b_test.ts"), `${l}\n${out}`);
    }
    const bSkips = [
      "SKIP b1: BMv2 (simple_switch_grpc) is not installed; install it as root",
      // The line without the test's name goes with the one ignored test left.
      "SKIP c3: CRIU reports no memory tracking (mem_dirty_track), so it refuses",
    ];
    for (const l of bSkips) {
      assert.ok(at(l) > at("c3 ... ignored (0ms)"), `${l}\n${out}`);
    }
    assert.equal(lines.filter((l) => l.startsWith("SKIP ") && !l.includes(" ... ")).length, 4);
    // Wrappers that held nothing but SKIP lines are gone; the one with real output stays.
    assert.equal(lines.filter((l) => l === "------- pre-test output -------").length, 0);
    assert.equal(lines.filter((l) => l === "------- post-test output -------").length, 1);
    assert.ok(at("hello") > at("------- post-test output -------"));
    assert.deepEqual(report.counts(), { passed: 4, failed: 0, ignored: 4, fromSummary: true });
    assert.ok(at("SKIP lines are parsed ... ok (1ms)") > at("b2 ... ok (437µs)"));
    assert.equal(report.skips.length, 4);
  }
});

Deno.test("ignored tests pair with SKIP lines by name, else in order; the rest are kept", () => {
  const skips = pairSkips("./t.ts", [
    "kill during pre-dump: CRIU reports no memory tracking",
    "b1: BMv2 is not installed; hint",
  ], ["b1", "c3"]);
  assert.deepEqual(skips, [
    { file: "./t.ts", test: "b1", reason: "BMv2 is not installed; hint", registered: true },
    { file: "./t.ts", test: "c3", reason: "CRIU reports no memory tracking", registered: true },
  ]);
  const extra = pairSkips("./t.ts", ["pre-dump benchmark: no tracking"], []);
  assert.deepEqual(extra, [
    { file: "./t.ts", test: "pre-dump benchmark", reason: "no tracking", registered: false },
  ]);
  assert.deepEqual(pairSkips("./t.ts", [], ["x"])[0].reason, "no reason printed");
});

Deno.test("the skips are counted by reason, largest group first", () => {
  const skip = (reason: string): Skip => ({ file: "f", test: "t", reason, registered: true });
  const skips = [
    ...Array.from({ length: 3 }, () => skip("BMv2 (simple_switch_grpc) is not installed; do x")),
    skip("CRIU reports no memory tracking (mem_dirty_track)"),
    skip("BMv2 (simple_switch_grpc) is not installed; do y"),
  ];
  assert.equal(
    formatSkipSummary(skips),
    "5 skipped: 4 BMv2 (simple_switch_grpc) is not installed, " +
      "1 CRIU reports no memory tracking (mem_dirty_track)",
  );
  assert.equal(formatSkipSummary([]), "");
  assert.equal(formatSkipSummary([skip("a")], 3), "3 skipped: 2 no reason printed, 1 a");
  assert.equal(reasonKey("P4CF_BMV2=/x does not exist; point it"), "P4CF_BMV2=/x does not exist");
  assert.equal(
    reasonKey("CRIU reports no tracking, so migrate refuses"),
    "CRIU reports no tracking",
  );
});

Deno.test("the report knows the file and test running now, for the watchdog", () => {
  const report = new TestReport();
  let out = report.feed("running 1 test from ./tests/slow_test.ts\nwaits for podman ... ");
  assert.equal(report.file, "./tests/slow_test.ts");
  assert.equal(report.test, "waits for podman");
  // The running test's line is shown at once, not held until it ends.
  assert.ok(out.endsWith("waits for podman ... "), out);
  out = report.feed("ok (3s)\n");
  assert.equal(out, "ok (3s)\n");
  assert.equal(report.test, undefined);
  // Without deno's summary (the run was stopped), the counts come from the results seen.
  report.end();
  assert.deepEqual(report.counts(), { passed: 1, failed: 0, ignored: 0, fromSummary: false });
});
