/** `deno task check`: formatting, lint and type-check of everything, failing on the first. */
import $ from "dax";
import { type Command, runCommandMain } from "./command.ts";

const STEPS: [string, string[]][] = [
  ["fmt", ["deno", "fmt", "--check"]],
  ["lint", ["deno", "lint"]],
  ["type-check", ["deno", "check", "main.ts", "lib/", "tasks/", "tests/"]],
];

export const check: Command = {
  summary: "Check formatting, lint and types of the whole tree (deno fmt --check, lint, check)",
  usage: `Usage: deno task check

Runs, in order, stopping at the first that fails (exit 1):
${STEPS.map(([name, argv]) => `  ${name.padEnd(11)} ${argv.join(" ")}`).join("\n")}

Fix formatting with \`deno fmt\`.`,
  async run() {
    for (const [name, argv] of STEPS) {
      $.logStep(name);
      const result = await $`${argv}`.noThrow();
      if (result.code !== 0) {
        $.logError(`${name} failed`);
        return 1;
      }
    }
    $.logStep("all checks passed");
    return 0;
  },
};

if (import.meta.main) Deno.exit(await runCommandMain("check", check, Deno.args));
