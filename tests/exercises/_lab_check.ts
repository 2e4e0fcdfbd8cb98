/**
 * `lab check` as a program of its own, with every option of `CHECK_OPTIONS`: what
 * `deno task lab check` runs, for tests that start several checks at once (students on one
 * machine). `deno run -A tests/exercises/_lab_check.ts <n>|--all [options]`.
 */
import { parseArgs } from "node:util";
import { describeError, UserError } from "../../lib/errors.ts";
import { CHECK_OPTIONS, verbCheck } from "../../tasks/exercises.ts";

if (import.meta.main) {
  let code: number;
  try {
    const { values, positionals } = parseArgs({
      args: Deno.args,
      options: CHECK_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    code = await verbCheck(positionals[0], values);
  } catch (err) {
    console.error(`error: ${describeError(err)}`);
    code = err instanceof UserError ? 1 : 2;
  }
  Deno.exit(code);
}
