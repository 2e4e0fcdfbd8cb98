/** The registry of CLI verbs, in the order `--help` lists them. */
import type { Command } from "./command.ts";
import { doctor } from "./doctor.ts";
import { lab } from "./lab.ts";

export const commands: Record<string, Command> = {
  lab,
  doctor,
};
