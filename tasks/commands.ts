/** The registry of CLI verbs, in the order `--help` lists them. */
import type { Command } from "./command.ts";
import { build } from "./build.ts";
import { controller } from "./controller.ts";
import { demo } from "./demo.ts";
import { doctor } from "./doctor.ts";
import { lab } from "./lab.ts";
import { migrate } from "./migrate.ts";

export const commands: Record<string, Command> = {
  demo,
  lab,
  migrate,
  controller,
  build,
  doctor,
};
