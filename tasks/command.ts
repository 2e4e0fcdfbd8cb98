/** The shape of one CLI verb: tasks/*.ts each export one or more. */
import type { ParseArgsOptionsConfig } from "node:util";

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command {
  /** One line for the command list. */
  summary: string;
  /** Full help text printed by `--help`. */
  usage: string;
  options?: ParseArgsOptionsConfig;
  /** Returns the process exit code. */
  run(values: OptionValues, positionals: string[]): Promise<number>;
}
