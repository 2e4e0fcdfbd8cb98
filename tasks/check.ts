/** `deno task check`: formatting, lint and type-check of everything, failing on the first. */
import $ from "dax";

const steps: [string, string[]][] = [
  ["fmt", ["deno", "fmt", "--check"]],
  ["lint", ["deno", "lint"]],
  ["type-check", ["deno", "check", "main.ts", "lib/", "tasks/", "tests/"]],
];
for (const [name, argv] of steps) {
  $.logStep(name);
  const result = await $`${argv}`.noThrow();
  if (result.code !== 0) {
    $.logError(`${name} failed`);
    Deno.exit(1);
  }
}
$.logStep("all checks passed");
