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
  usage: `Usage: deno task bench [section…] [--readme]
       deno task bench --readme [report/bench-<time>.json…]

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
              tracking); P4CF_PREDUMP_MB sets the server's memory (default 128)
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

Options:
  --readme    Rewrite README.md's results (between <!-- bench-results:begin --> and
              <!-- bench-results:end -->) as a table with the machine, the load average and the
              peers' numbers beside ours: after the sections given, from this run; without
              sections, from the newest report/bench-*.json, or from the reports given (each
              section from the last report that has it)

Each section first waits (up to 90 s, P4CF_BENCH_SETTLE_S; 0 does not wait) for the 1-minute
load average to fall to half the CPUs, so that one section's load does not move the next one's
figures. A section stops with the reason when something it needs is missing (see
\`deno task doctor\`).`,
  options: { readme: { type: "boolean" } },
  async run(values, positionals) {
    const args = [...(values.readme ? ["--readme"] : []), ...positionals];
    const problem = benchArgsProblem(args);
    if (problem !== undefined) return problem;
    const script = new URL("./bench.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", script, ...args],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    return (await child.status).code;
  },
};

/** `bench`'s arguments: the sections to run, and `--readme` with the reports it reads. */
export interface BenchArgs {
  sections: (typeof BENCH_SECTIONS)[number][];
  readme: boolean;
  /** Reports for `--readme` without sections (none: the newest). */
  reports: string[];
}

/**
 * Parses `bench`'s arguments: sections, `--readme`, and (with `--readme` and no section) report
 * files. An unknown option or section, or a report beside sections, is a UserError.
 */
export function parseBenchArgs(args: readonly string[]): BenchArgs {
  const { values, positionals } = parseCommandArgs("bench", bench, args);
  const readme = values.readme === true;
  const reports = positionals.filter((p) => p.endsWith(".json"));
  const sections = positionals.filter((p) => !p.endsWith(".json"));
  for (const s of sections) {
    if ((BENCH_SECTIONS as readonly string[]).includes(s)) continue;
    const near = didYouMean(s, BENCH_SECTIONS);
    throw new UserError(`bench: unknown section "${s}"`, {
      hint: near
        ? `did you mean "${near}"? (see \`deno task bench --help\`)`
        : `sections are ${BENCH_SECTIONS.join(", ")}`,
    });
  }
  if (reports.length && (!readme || sections.length)) {
    throw new UserError(`bench: ${reports[0]} is read only by --readme without sections`, {
      hint: "`deno task bench --readme report/bench-<time>.json` rewrites README.md from it; " +
        "`deno task bench <section…> --readme` measures and writes README.md from that run",
    });
  }
  return { sections: sections as BenchArgs["sections"], readme, reports };
}

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
    parseBenchArgs(args);
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
