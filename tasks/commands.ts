/** The registry of CLI verbs, in the order `--help` lists them. */
import { UserError } from "../lib/errors.ts";
import { type Command, didYouMean, parseCommandArgs, reportError, wantsHelp } from "./command.ts";
import { build } from "./build.ts";
import { check } from "./check.ts";
import { controller } from "./controller.ts";
import { demo } from "./demo.ts";
import { doctor } from "./doctor.ts";
import { lab } from "./lab.ts";
import { migrate } from "./migrate.ts";
import { test } from "./test.ts";
import { vmCheck } from "./vm_check.ts";

/** The sections of `deno task bench`, in the order it runs them (as in tasks/bench.ts). */
export const BENCH_SECTIONS = [
  "p4runtime",
  "controller",
  "lab",
  "migration",
  "predump",
  "peers",
  "load",
  "machines",
] as const;

/**
 * `bench` runs tasks/bench.ts in its own deno (it needs --expose-gc); this entry gives it its
 * place in the command list and its help.
 */
export const bench: Command = {
  summary: "Measure P4Runtime, controller, lab up/down and migrations (JSON in report/)",
  usage: `Usage: deno task bench [section…]

Measures this machine against the project's performance targets, prints a table per section and
saves everything as JSON in report/bench-<time>.json. Without a section, runs them all.

Sections:
  p4runtime   P4Runtime MODIFY round trips and batched inserts against BMv2 (root, BMv2)
  controller  Switch updates through the controller's HTTP API, controller memory with 10,000
              entries (root, BMv2, netns)
  lab         lab up / lab down times (root, BMv2, netns, Podman)
  migration   10 process and 10 container migrations: downtime and phase times (root, BMv2,
              netns, CRIU, Podman)
  predump     Final dump with and without CRIU pre-dump rounds (root, netns, CRIU with memory
              tracking); P4CF_PREDUMP_MB sets the server's memory (default 256)
  peers       Ours beside peer tools in the same run, with the ratio: the P4Runtime client
              against Python grpcio (BMv2, python3-grpcio); JSON and an SVG chart in report/;
              P4CF_PEERS=p4runtime (or another peer bench's name) runs only those
  load        1,000 client connections through a process migration there and back, with the
              clients' segments refused (ICMP) and dropped while frozen: median, p90 and worst
              wait for an answer per connection (root, BMv2, netns, CRIU); P4CF_LOAD_CONNECTIONS sets the count
  machines    Between two simulated machines over a 1 Gbit/s underlay: downtime and total
              migration time vs server memory (16, 128, 512, 1024 MB) for stop-and-copy and
              post-copy (--lazy); a table and an SVG plot in report/ (root, BMv2, netns, CRIU);
              P4CF_MACHINES_MB="16,128" and P4CF_MACHINES_RUNS=2 change the sizes and runs

A section stops with the reason when something it needs is missing (see \`deno task doctor\`).`,
  async run(_values, positionals) {
    const problem = benchArgsProblem(positionals);
    if (problem !== undefined) return problem;
    const script = new URL("./bench.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", script, ...positionals],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  },
};

/**
 * Answers `bench`'s arguments before anything runs: its help (0), or one error with a
 * did-you-mean for an unknown option or section (1); undefined when they are fine.
 */
export function benchArgsProblem(args: readonly string[]): number | undefined {
  if (wantsHelp(args)) {
    console.log(bench.usage);
    return 0;
  }
  try {
    const { positionals } = parseCommandArgs("bench", bench, args);
    for (const s of positionals) {
      if ((BENCH_SECTIONS as readonly string[]).includes(s)) continue;
      const near = didYouMean(s, BENCH_SECTIONS);
      throw new UserError(`bench: unknown section "${s}"`, {
        hint: near
          ? `did you mean "${near}"? (see \`deno task bench --help\`)`
          : `sections are ${BENCH_SECTIONS.join(", ")}`,
      });
    }
  } catch (err) {
    return reportError(err);
  }
  return undefined;
}

export const commands: Record<string, Command> = {
  demo,
  lab: {
    verbs: ["list", "up", "down", "status", "exec", "check", "recover", "supervise"],
    ...lab,
  },
  migrate,
  controller: {
    verbs: ["serve", "health", "backends", "add", "remove", "migrate", "entries"],
    ...controller,
  },
  build,
  doctor,
  test,
  bench,
  check,
  "vm-check": vmCheck,
};
