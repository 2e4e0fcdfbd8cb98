/**
 * The P4ContainerFlow command line. It only parses arguments, calls the library and maps errors
 * to exit codes: 0 success, 1 user error (message and hint), 2 internal failure.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { describeError, UserError } from "./lib/errors.ts";
import { commands } from "./tasks/commands.ts";

const USAGE = `p4containerflow — live migration of TCP servers behind a P4 switch

Usage: deno task <command> [args]   (or: deno run -A main.ts <command> [args])

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`).join("\n")}

Run a command with --help for its options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    throw new UserError(`Unknown command "${name}"`, {
      hint: `commands are: ${Object.keys(commands).join(", ")}`,
    });
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: command.options ?? {},
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UserError(`${name}: ${(err as Error).message}`, {
      hint: `see \`deno task ${name} --help\``,
    });
  }
  return await command.run(parsed.values, parsed.positionals);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    console.error(`error: ${describeError(err)}`);
    code = err instanceof UserError ? 1 : 2;
  }
  Deno.exit(code);
}
