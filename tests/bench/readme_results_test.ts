/** `deno task bench --readme`: finding and reading reports, rewriting README.md's block, args. */
import assert from "node:assert/strict";
import {
  newestBenchReport,
  readBenchRun,
  writeReadmeResults,
} from "../../lib/bench/readme_results.ts";
import { RESULTS_BEGIN, RESULTS_END } from "../../lib/bench/results_table.ts";
import { UserError } from "../../lib/errors.ts";
import { parseBenchArgs } from "../../tasks/commands.ts";

const REPORT = {
  startedAt: "2026-12-06T10:00:00.000Z",
  lab: { lab: "process-migration", upMs: [510, 490, 530], downMs: [200, 210, 190] },
};

Deno.test("the newest report is the last bench-*.json by name; none is a UserError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4cf-readme-" });
  try {
    await assert.rejects(() => newestBenchReport(dir), UserError);
    await assert.rejects(() => newestBenchReport(`${dir}/absent`), UserError);
    for (const n of ["bench-2026-12-06T09-00.json", "bench-2026-12-06T10-00.json", "x.json"]) {
      await Deno.writeTextFile(`${dir}/${n}`, "{}");
    }
    assert.equal(await newestBenchReport(dir), `${dir}/bench-2026-12-06T10-00.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reading a report: shown relative to the root; bad files are UserErrors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4cf-readme-" });
  try {
    await Deno.writeTextFile(`${dir}/good.json`, JSON.stringify(REPORT));
    await Deno.writeTextFile(`${dir}/bad.json`, "{ not json");
    await Deno.writeTextFile(`${dir}/other.json`, '{"name": "x"}');
    const run = await readBenchRun(`${dir}/good.json`, dir);
    assert.equal(run.file, "good.json");
    assert.deepEqual(run.report, REPORT);
    await assert.rejects(() => readBenchRun(`${dir}/bad.json`, dir), /is not JSON/);
    await assert.rejects(() => readBenchRun(`${dir}/other.json`, dir), /not a bench report/);
    await assert.rejects(() => readBenchRun(`${dir}/none.json`, dir), UserError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("README's block is rewritten between the markers, formatted, the rest kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "p4cf-readme-" });
  const readme = `${dir}/README.md`;
  const before = "# Title\n\nIntro.\n\n## Results\n\n";
  const after = "\n\nHow the numbers are reached: prose kept.\n";
  try {
    await Deno.writeTextFile(readme, `${before}${RESULTS_BEGIN}\nold\n${RESULTS_END}${after}`);
    const runs = [{ file: "report/bench-t.json", report: REPORT }];
    const block = await writeReadmeResults(runs, { readme });
    const text = await Deno.readTextFile(readme);
    assert.equal(text, `${before}${RESULTS_BEGIN}\n\n${block}\n\n${RESULTS_END}${after}`);
    assert.match(
      block,
      /^\| `lab up process-migration`, median of 3 +\| 510 ms +\| ≤ 5,000 ms +\| yes/m,
    );
    assert.doesNotMatch(text, /\nold\n/);
    // Twice gives the same file; deno fmt accepts it.
    await writeReadmeResults(runs, { readme });
    assert.equal(await Deno.readTextFile(readme), text);
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check", "--line-width", "100", readme],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(fmt.code, 0);
    // Without markers: a UserError, and the file is left as it was.
    await Deno.writeTextFile(readme, "# No markers\n");
    await assert.rejects(() => writeReadmeResults(runs, { readme }), UserError);
    assert.equal(await Deno.readTextFile(readme), "# No markers\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench's arguments: sections, --readme, and reports only for --readme alone", () => {
  assert.deepEqual(parseBenchArgs([]), { sections: [], readme: false, reports: [] });
  assert.deepEqual(parseBenchArgs(["peers", "migration", "--readme"]), {
    sections: ["peers", "migration"],
    readme: true,
    reports: [],
  });
  assert.deepEqual(parseBenchArgs(["--readme", "report/a.json", "report/b.json"]), {
    sections: [],
    readme: true,
    reports: ["report/a.json", "report/b.json"],
  });
  assert.throws(() => parseBenchArgs(["report/a.json"]), /read only by --readme/);
  assert.throws(() => parseBenchArgs(["--readme", "peers", "a.json"]), /read only by --readme/);
  assert.throws(
    () => parseBenchArgs(["peer"]),
    (e) => e instanceof UserError && /"peers"/.test(e.hint!),
  );
  assert.throws(() => parseBenchArgs(["--readme=yes"]), /takes no value/);
});
