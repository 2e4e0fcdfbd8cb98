/** The shape of one CLI verb (tasks/*.ts each export one or more), and how one is invoked. */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { describeError, UserError } from "../lib/errors.ts";
import { closest } from "../lib/lab/suggest.ts";

/**
 * The candidate a mistyped word most likely meant: {@link closest}, or else one that differs by
 * two swapped neighbouring letters (`tets` → `test`, `dwon` → `down`).
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const near = closest(word, candidates);
  if (near) return near;
  return candidates.find((c) => {
    if (c.length !== word.length) return false;
    const diff = [...c].flatMap((ch, i) => (ch === word[i] ? [] : [i]));
    return diff.length === 2 && diff[1] === diff[0] + 1 && c[diff[0]] === word[diff[1]] &&
      c[diff[1]] === word[diff[0]];
  });
}

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command {
  /** One line for the command list. */
  summary: string;
  /** Full help text printed by `--help`. */
  usage: string;
  options?: ParseArgsOptionsConfig;
  /**
   * The verbs the first positional must be one of, when the command has verbs: anything else is
   * refused before `run`, with a did-you-mean.
   */
  verbs?: readonly string[];
  /**
   * Returns the process exit code. `positionals` includes the arguments after `--`, which
   * `passthrough` also holds on their own (e.g. a command for `lab exec`, options for `deno test`).
   */
  run(values: OptionValues, positionals: string[], passthrough: string[]): Promise<number>;
}

/** A command's arguments, parsed. */
export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
  /** The arguments after the first `--` (also at the end of `positionals`). */
  passthrough: string[];
}

/** True when the arguments ask for help (`--help`/`-h` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/**
 * Parses a command's arguments. Unknown options, options missing their value or given one they
 * do not take, and unknown verbs are one {@link UserError} each, with a did-you-mean.
 */
export function parseCommandArgs(
  name: string,
  command: Pick<Command, "options" | "verbs">,
  args: readonly string[],
): ParsedArgs {
  const options = command.options ?? {};
  const help = `see \`deno task ${name} --help\``;
  const { tokens } = parseArgs({
    args: [...args],
    options,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const known = Object.keys(options);
  const spelled = (n: string) => (n.length === 1 ? `-${n}` : `--${n}`);
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const config = Object.entries(options).find(([long, o]) =>
      long === token.name || o.short === token.name
    );
    if (!config) {
      const near = didYouMean(token.name, known);
      throw new UserError(`${name}: unknown option ${token.rawName}`, {
        hint: near
          ? `did you mean ${spelled(near)}? (${help})`
          : known.length
          ? `its options are ${known.map(spelled).join(", ")} (${help})`
          : `it takes no options (${help})`,
      });
    }
    const [long, o] = config;
    if (o.type === "string" && token.value === undefined) {
      throw new UserError(`${name}: option --${long} needs a value`, {
        hint: `e.g. --${long} <value> (${help})`,
      });
    }
    if (o.type === "boolean" && token.inlineValue) {
      throw new UserError(
        `${name}: option --${long} takes no value (${token.rawName}=${token.value})`,
        {
          hint: help,
        },
      );
    }
  }
  const parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: false });
  const end = args.indexOf("--");
  const passthrough = end < 0 ? [] : args.slice(end + 1);
  const positionals = parsed.positionals;
  if (command.verbs) {
    const verb = positionals[0];
    if (verb === undefined || (end >= 0 && positionals.length === passthrough.length)) {
      throw new UserError(`${name}: which verb?`, {
        hint: `verbs are ${command.verbs.join(", ")} (${help})`,
      });
    }
    if (!command.verbs.includes(verb)) {
      const near = didYouMean(verb, command.verbs);
      throw new UserError(`${name}: unknown verb "${verb}"`, {
        hint: near
          ? `did you mean "${near}"? (${help})`
          : `verbs are ${command.verbs.join(", ")} (${help})`,
      });
    }
  }
  return { values: parsed.values as OptionValues, positionals, passthrough };
}

/** Runs a command on its raw arguments: `--help`, parsing, then `run`. Errors propagate. */
export async function invokeCommand(
  name: string,
  command: Command,
  args: readonly string[],
): Promise<number> {
  if (wantsHelp(args)) {
    console.log(command.usage);
    return 0;
  }
  const { values, positionals, passthrough } = parseCommandArgs(name, command, args);
  return await command.run(values, positionals, passthrough);
}

/** Prints an error as the CLI does and returns its exit code: 1 for a UserError, else 2. */
export function reportError(err: unknown): number {
  console.error(`error: ${describeError(err)}`);
  return err instanceof UserError ? 1 : 2;
}

/**
 * The whole CLI life of one command, for task scripts run on their own (`deno run tasks/x.ts`):
 * {@link invokeCommand}, with errors printed and mapped to exit codes.
 */
export async function runCommandMain(
  name: string,
  command: Command,
  args: readonly string[],
): Promise<number> {
  try {
    return await invokeCommand(name, command, args);
  } catch (err) {
    return reportError(err);
  }
}
