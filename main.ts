/**
 * The P4ContainerFlow command line. It only parses arguments, calls the library and maps errors
 * to exit codes: 0 success, 1 user error (message and hint), 2 internal failure.
 *
 * @module
 */
import { UserError } from "./lib/errors.ts";
import { didYouMean, invokeCommand, reportError } from "./tasks/command.ts";
import { commands } from "./tasks/commands.ts";

export const USAGE = `p4containerflow — live migration of TCP servers behind a P4 switch

Usage: deno task <command> [args]   (or: deno run -A main.ts <command> [args])

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`).join("\n")}

Run a command with --help for its options.`;

/** Dispatches one command line; returns the exit code (errors propagate). */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name ? 0 : 1;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    const names = Object.keys(commands);
    const near = didYouMean(name, names);
    throw new UserError(`Unknown command "${name}"`, {
      hint: near
        ? `did you mean "${near}"? (commands: ${names.join(", ")})`
        : `commands are: ${names.join(", ")}`,
    });
  }
  return await invokeCommand(name, command, rest);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (err) {
    code = reportError(err);
  }
  Deno.exit(code);
}
