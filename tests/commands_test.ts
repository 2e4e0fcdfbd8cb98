/** The command registry, the main help, deno.json's tasks, and every task's own --help. */
import assert from "node:assert/strict";
import { BENCH_SECTIONS, commands } from "../tasks/commands.ts";
import { main, USAGE } from "../main.ts";
import { UserError } from "../lib/errors.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("the main help lists every command, test, bench and check included", () => {
  for (const name of Object.keys(commands)) assert.match(USAGE, new RegExp(`^  ${name} `, "m"));
  for (const name of ["test", "bench", "check"]) assert.ok(name in commands, name);
});

Deno.test("every deno.json task is a command, with a description", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  for (const [name, task] of Object.entries(config.tasks)) {
    assert.ok(name in commands, `deno task ${name} is not in tasks/commands.ts`);
    const t = task as { command?: string; description?: string };
    assert.ok(t.description && t.command, `deno task ${name} has no description`);
  }
});

Deno.test("verbs and bench sections are those the commands document and run", async () => {
  for (const [name, c] of Object.entries(commands)) {
    for (const verb of c.verbs ?? []) {
      assert.match(c.usage, new RegExp(`^ {2}${verb}\\b`, "m"), `${name} ${verb}`);
    }
  }
  // tasks/bench.ts takes its sections from BENCH_SECTIONS: each must be run there and documented.
  const bench = await Deno.readTextFile(`${ROOT}tasks/bench.ts`);
  assert.match(bench, /const SECTIONS = BENCH_SECTIONS;/);
  for (const s of BENCH_SECTIONS) {
    assert.ok(bench.includes(`wanted.includes("${s}")`), `bench.ts runs section ${s}`);
    assert.match(commands.bench.usage, new RegExp(`^ {2}${s}\\b`, "m"));
  }
});

Deno.test("no help text tells anyone to run something with sudo", () => {
  // Debian's base system has no sudo, and root needs none: help says "as root".
  const withSudo = /\bsudo\s+(deno|bash|[A-Z0-9_]+=)/;
  assert.doesNotMatch(USAGE, withSudo);
  for (const [name, c] of Object.entries(commands)) assert.doesNotMatch(c.usage, withSudo, name);
});

Deno.test("unknown commands: one error, with a did-you-mean", async () => {
  const err = await main(["tets"]).catch((e) => e);
  assert.ok(err instanceof UserError);
  assert.equal(err.message, 'Unknown command "tets"');
  assert.match(err.hint!, /^did you mean "test"\?/);
});

Deno.test("test, bench and check answer --help with their own help", async () => {
  const cases: [string[], RegExp][] = [
    [["tasks/test.ts", "--help"], /^Usage: deno task test /],
    [["--v8-flags=--expose-gc", "tasks/bench.ts", "--help"], /^Usage: deno task bench /],
    [["tasks/check.ts", "--help"], /^Usage: deno task check/],
    [["main.ts", "test", "-h"], /^Usage: deno task test /],
  ];
  for (const [args, usage] of cases) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...args],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, `${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    assert.match(text, usage, args.join(" "));
  }
  const wrong = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/bench.ts", "--fast"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(wrong.code, 1);
  assert.equal(
    new TextDecoder().decode(wrong.stderr),
    "error: bench: unknown option --fast\nhint: its options are --readme (see `deno task bench --help`)\n",
  );
});
