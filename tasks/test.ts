/**
 * `deno task test`: runs the whole suite (tests/) and ends with one summary line
 * `N passed, N failed, N skipped`. Tests that need a capability this machine lacks are skipped
 * with the reason printed above (see tests/_caps.ts). Extra arguments go to `deno test`
 * (e.g. `deno task test --filter criu`).
 */
const args = ["test", "-A", "--no-check=remote", ...Deno.args];
if (!Deno.args.some((a) => !a.startsWith("-"))) args.push("tests/");

const child = new Deno.Command(Deno.execPath(), {
  args,
  stdout: "piped",
  stderr: "inherit",
  env: { NO_COLOR: "1" },
}).spawn();

// Stream the output through while keeping it, to read deno's own summary at the end.
let text = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  text += decoder.decode(chunk, { stream: true });
}
const status = await child.status;

const summary = /^(?:ok|FAILED) \| (\d+) passed.*?\| (\d+) failed(?:.*?\| (\d+) ignored)?/m.exec(
  text,
);
const passed = Number(summary?.[1] ?? 0);
const failed = Number(summary?.[2] ?? (status.success ? 0 : 1));
const skipped = Number(summary?.[3] ?? 0);
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
Deno.exit(status.success && summary ? 0 : 1);
