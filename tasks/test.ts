/**
 * `deno task test`: runs the whole suite (tests/) and ends with one summary line
 * `N passed, N failed, N skipped` (CI reads it). Tests that need a capability this machine lacks
 * are skipped with a `SKIP <test>: <reason>` line under their file's results (see tests/_caps.ts),
 * and the skips are counted by reason just before the summary line. A watchdog stops a run that
 * takes too long, naming the file and test it was in.
 */
import { UserError } from "../lib/errors.ts";
import { killProcessTree } from "../lib/shell.ts";
import { formatSkipSummary, TestReport } from "../lib/test_report.ts";
import { findTool, pathWithTools, type ToolName, TOOLS } from "../lib/tools.ts";
import { type Command, runCommandMain } from "./command.ts";

/** The run's bound when neither --timeout nor P4CF_TEST_TIMEOUT_S sets one, in seconds. */
export const DEFAULT_TEST_TIMEOUT_S = 1800;

const USAGE =
  `Usage: deno task test [paths…] [--filter TEXT] [--fail-fast] [--timeout S] [-- deno-test-args]

Runs the test suite (tests/, or the given files and directories) with \`deno test\`. Tests that
need something this machine lacks (root, network namespaces, CRIU, Podman, BMv2, p4c) are skipped,
each with a line \`SKIP <test>: <reason>\` under its file. The run ends with the skips counted by
reason and one line \`N passed, N failed, N skipped\`; the exit code is 0 only if nothing failed.

Every external command the tests run has its own time bound (P4CF_COMMAND_TIMEOUT_S), and the
whole run has one too: past it the run is stopped, naming the test file and test it was in.

Options:
  --filter TEXT   Only the tests whose name contains TEXT (or matches /TEXT/)
  --fail-fast     Stop at the first failure
  --timeout S     Stop the whole run after S seconds (default $P4CF_TEST_TIMEOUT_S, else ${DEFAULT_TEST_TIMEOUT_S};
                  0: no bound)
  -- ARGS         Pass ARGS on to \`deno test\` (e.g. -- --parallel)

Tools installed outside PATH are found through P4CF_BMV2, P4CF_P4C and CRIU (see doctor).`;

export const test: Command = {
  summary: "Run the test suite; ends with `N passed, N failed, N skipped`",
  usage: USAGE,
  options: {
    filter: { type: "string" },
    "fail-fast": { type: "boolean" },
    timeout: { type: "string" },
  },
  async run(values, positionals, passthrough) {
    const paths = positionals.slice(0, positionals.length - passthrough.length);
    const args = ["test", "-A"];
    if (!passthrough.some((a) => /^--(no-)?check\b/.test(a))) args.push("--no-check=remote");
    if (typeof values.filter === "string") args.push("--filter", values.filter);
    if (values["fail-fast"]) args.push("--fail-fast");
    args.push(...passthrough, ...(paths.length ? paths : ["tests/"]));
    return await runSuite(args, runTimeoutS(values.timeout));
  },
};

/** The run's bound in seconds (undefined: none). */
export function runTimeoutS(
  option: unknown,
  setting: string | undefined = Deno.env.get("P4CF_TEST_TIMEOUT_S"),
): number | undefined {
  const [text, from] = typeof option === "string"
    ? [option, "--timeout"]
    : setting?.trim()
    ? [setting, "P4CF_TEST_TIMEOUT_S"]
    : [String(DEFAULT_TEST_TIMEOUT_S), "default"];
  const s = Number(text);
  if (!Number.isFinite(s) || s < 0) {
    throw new UserError(`test: ${from} "${text}" is not a number of seconds`, {
      hint: "e.g. --timeout 1200 (0: no bound)",
    });
  }
  return s > 0 ? s : undefined;
}

/**
 * The suite's environment: tools set explicitly (P4CF_BMV2, P4CF_P4C, CRIU) are put first on
 * PATH instead, so that the tests' helpers, which run them by name, run those, and tests that
 * check an argv see the same program names on every machine. A setting naming nothing usable is
 * kept, so that the tests' capability probes report it.
 */
export function suiteEnv(
  env: Record<string, string> = Deno.env.toObject(),
): Record<string, string> {
  const out: Record<string, string> = {
    ...env,
    NO_COLOR: "1",
    PATH: pathWithTools((name) => env[name]),
  };
  for (const tool of Object.keys(TOOLS) as ToolName[]) {
    const setting = TOOLS[tool].setting;
    // A setting that names nothing usable stays, for the tests' probes to report.
    if (setting && findTool(tool, (name) => env[name]).path) delete out[setting];
  }
  return out;
}

async function runSuite(args: string[], timeoutS: number | undefined): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "inherit",
    env: suiteEnv(),
    clearEnv: true,
  }).spawn();
  const report = new TestReport();
  const enc = new TextEncoder();
  const write = (text: string) => text ? Deno.stdout.write(enc.encode(text)) : Promise.resolve(0);

  const reader = child.stdout.getReader();
  let stoppedBy: string | undefined;
  let killing: Promise<number[]> | undefined;
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = timeoutS === undefined ? undefined : setTimeout(async () => {
    const where = report.file
      ? `in ${report.file}${report.test ? `, test "${report.test}"` : ""}`
      : "before the first test file started";
    stoppedBy = `the test run did not finish within ${timeoutS} s and was stopped ${where} ` +
      "(--timeout or P4CF_TEST_TIMEOUT_S sets the bound)";
    await write(`\nwatchdog: ${stoppedBy}\n`);
    // A process that escaped the kill may still hold the output open.
    drainTimer = setTimeout(() => reader.cancel().catch(() => {}), 5000);
    killing = killProcessTree(child.pid);
  }, timeoutS * 1000);

  // Stream the output through while reading it.
  const decoder = new TextDecoder();
  try {
    while (true) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) break;
      await write(report.feed(decoder.decode(value, { stream: true })));
    }
    await write(report.feed(decoder.decode()));
    await write(report.end());
  } finally {
    clearTimeout(timer);
    clearTimeout(drainTimer);
  }
  const status = await child.status;
  // Everything the stopped run started is gone before this process exits.
  await killing;

  const counts = report.counts();
  const unregistered = report.skips.filter((s) => !s.registered).length;
  const passed = counts.passed;
  // Without deno's own summary the run broke off (or could not start): that is a failure.
  const failed = counts.failed + (stoppedBy || !counts.fromSummary ? 1 : 0) ||
    (status.success ? 0 : 1);
  const skipped = counts.ignored + unregistered;
  const seconds = ((performance.now() - t0) / 1000).toFixed(0);
  console.log(`\n(${seconds} s)`);
  if (stoppedBy) console.log(`Stopped: ${stoppedBy}.`);
  const skips = formatSkipSummary(report.skips, skipped);
  if (skips) console.log(skips);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  return status.success && counts.fromSummary && !stoppedBy && failed === 0 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await runCommandMain("test", test, Deno.args));
