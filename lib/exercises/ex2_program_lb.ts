/**
 * Exercise 2's check: the lab comes up (or a lab kept by an earlier check is reused), the
 * controller is stopped and the load balancer's entries are deleted (routes and port MACs stay),
 * the student's `programLoadBalancer` writes them again through its own P4Runtime session. Then
 * the entries are read back and judged, and a fixed set of connections is opened from the
 * client's host from chosen source ports: the grader knows each one's slot in advance and looks
 * on the backends where each arrived. Same code, same verdict, every run.
 *
 * @module
 */
import type { EntryView } from "../controller/switch_entries.ts";
import type { Lab } from "../lab/types.ts";
import { TABLES } from "../p4/lb_program.ts";
import type { P4RuntimeClient } from "../p4runtime/client.ts";
import { type CheckContext, clientHost, hostNamed } from "./check_context.ts";
import type { ProgramLoadBalancer } from "./contexts.ts";
import { ExerciseLab } from "./exercise_lab.ts";
import { flowsOnBackends, openFlows, testFlows } from "./flows.ts";
import { fail, pass, type Verdict } from "./grading.ts";
import { blockOwner, judgeLbEntries, type LbExpectation } from "./lb_entries_judge.ts";
import {
  connectLbSwitch,
  deleteLbEntries,
  describeDrops,
  LB_TABLES,
  lbSwitch,
  readEntryViews,
} from "./lb_switch.ts";
import { importOrFail, runStudent } from "./student_code.ts";

/** Slot count assumed for the test connections when no VIP entry says otherwise. */
const FALLBACK_SLOTS = 8;

/** Where each test connection went, and where the exercise's layout says it should go. */
export interface FlowOutcome {
  sport: number;
  slot: number;
  burst: boolean;
  answered: boolean;
  /** Why it was not answered. */
  failure?: string;
  /** Backend host that holds it (undefined: none). */
  reached?: string;
  /** Backend host its slot belongs to (undefined: the slots do not split evenly). */
  expected?: string;
}

/** All test connections were answered. */
export function judgeAnswered(flows: readonly FlowOutcome[], drops: string): Verdict {
  const lost = flows.filter((f) => !f.answered);
  const summary = `${flows.length - lost.length} of ${flows.length} connections answered`;
  if (!lost.length) return pass(summary);
  const reasons = new Map<string, number>();
  for (const f of lost) reasons.set(f.failure ?? "?", (reasons.get(f.failure ?? "?") ?? 0) + 1);
  const why = [...reasons].map(([r, n]) => `${n} ${r}`).join(", ");
  return fail(
    `${summary} (${why}); switch drops: ${drops}`,
    drops === "none"
      ? "no drops but no answer: do the replies come back from the address the client connected to?"
      : "the drop counter names the table that had no entry for the packet (p4/README.md)",
  );
}

/** Every answered connection reached the backend its slot belongs to. */
export function judgeExact(flows: readonly FlowOutcome[], slotCount: number): Verdict {
  const answered = flows.filter((f) => f.answered);
  if (!answered.length) return fail("no connection was answered, so none reached a backend");
  if (answered.some((f) => f.expected === undefined)) {
    return fail(`${slotCount} slots do not split into equal blocks, so no slot has an owner`);
  }
  const wrong = answered.filter((f) => f.reached !== f.expected);
  if (!wrong.length) {
    return pass(
      `${answered.length} connections over ${new Set(answered.map((f) => f.slot)).size} slots, ` +
        "each on the backend its slot belongs to",
    );
  }
  const shown = wrong.slice(0, 4).map((f) =>
    `port ${f.sport} -> slot ${f.slot} -> ${f.reached ?? "nobody"} (slot ${f.slot} belongs to ` +
    `${f.expected})`
  );
  return fail(
    `${wrong.length} of ${answered.length} connections reached another backend than their ` +
      `slot's: ${shown.join("; ")}${wrong.length > 4 ? "; ..." : ""}`,
    "the switch sends a new connection wherever the slot its hash picks names: the slot table " +
      "decides",
  );
}

/** The burst from one host reached every backend. */
export function judgeBurst(flows: readonly FlowOutcome[], backends: readonly string[]): Verdict {
  const burst = flows.filter((f) => f.burst && f.answered);
  const per = backends.map((b) => `${b} ${burst.filter((f) => f.reached === b).length}`);
  const idle = backends.filter((b) => !burst.some((f) => f.reached === b));
  const slots = [...new Set(burst.map((f) => f.slot))].sort((a, b) => a - b).join(", ");
  const summary = `${burst.length} connections opened together from one host (slots ${slots}): ` +
    per.join(", ");
  if (!burst.length) return fail("no connection of the burst was answered");
  return idle.length
    ? fail(
      summary,
      "source ports chosen together by one client differ in a way that leaves the hash's " +
        "lowest bit alone: which slots can such a burst reach?",
    )
    : pass(summary);
}

/** Runs exercise 2's criteria. */
export async function checkProgramLb(ctx: CheckContext): Promise<void> {
  const { grader, progress } = ctx;
  await using exLab = await ExerciseLab.load(ctx.files.lab, ctx.labOptions);
  const lab = exLab.lab;
  const expect: LbExpectation = {
    vip: lab.loadBalancer.vip,
    servicePort: lab.loadBalancer.servicePort,
    backends: lab.loadBalancer.backends.map((name) => ({ name, ip: hostNamed(lab, name).ip })),
  };
  const from = clientHost(lab);
  const { vip, servicePort } = lab.loadBalancer;
  const names = expect.backends.map((b) => b.name);
  const entryTitles = judgeLbEntries([], expect).map((j) => j.title);
  const titles = {
    runs: "programLoadBalancer() runs without an error",
    answered: `new connections from ${from.name} are answered through ${vip}:${servicePort}`,
    exact: "each connection reaches the backend its slot belongs to",
    burst: `a burst of connections from one host reaches ${names.join(" and ")}`,
  };
  const program = await importOrFail<ProgramLoadBalancer>(
    grader,
    titles.runs,
    ctx.files.student,
    "programLoadBalancer",
  );
  if (!program) {
    grader.skip(
      [...entryTitles, titles.answered, titles.exact, titles.burst],
      "programLoadBalancer() must load first",
    );
    return;
  }

  let done = progress.step(`bring up your lab ${lab.name}`);
  await exLab.up();
  await exLab.stopController();
  const deleted = await withLbSwitch(lab, (sw) => deleteLbEntries(sw));
  done(`${deleted} load-balancer entries deleted`);

  done = progress.step("run your programLoadBalancer()");
  const run = await withLbSwitch(lab, (sw) =>
    runStudent(
      "programLoadBalancer()",
      () => program(sw, lab),
      30_000,
      "a P4RuntimeWriteError names the update the switch refused and why",
    ));
  done();
  // Only a failure is a criterion: running is not an achievement by itself.
  if (!run.verdict.ok) await grader.check(titles.runs, () => run.verdict);

  await withLbSwitch(lab, async (sw) => {
    const entries = await readEntryViews(sw, lbSwitch(lab).name, LB_TABLES);
    if (ctx.verbose) progress.info(`entries read back:\n${describeEntries(entries)}`);
    for (const { title, verdict } of judgeLbEntries(entries, expect)) {
      await grader.check(title, () => verdict);
    }
    const slotCount = slotCountOf(entries, vip) ?? FALLBACK_SLOTS;
    done = progress.step(`open the test connections from ${from.name}`);
    const flows = await runFlows(ctx, lab, from.name, slotCount, expect);
    done();
    if (ctx.verbose) {
      progress.info(
        flows.map((f) => `port ${f.sport} slot ${f.slot} -> ${f.reached ?? f.failure}`).join("\n"),
      );
    }
    const drops = await describeDrops(sw);
    await grader.check(titles.answered, () => judgeAnswered(flows, drops));
    await grader.check(titles.exact, () => judgeExact(flows, slotCount));
    await grader.check(titles.burst, () => judgeBurst(flows, names));
  });
}

/** Opens the test connections and finds where each one arrived. */
async function runFlows(
  ctx: CheckContext,
  lab: Lab,
  fromHost: string,
  slotCount: number,
  expect: LbExpectation,
): Promise<FlowOutcome[]> {
  const client = hostNamed(lab, fromHost);
  const { vip, servicePort } = lab.loadBalancer;
  const flows = testFlows(client.ip, vip, servicePort, slotCount);
  await using open = await openFlows(client.netns!, vip, servicePort, flows.map((f) => f.sport));
  const where = await flowsOnBackends(
    ctx.shell,
    expect.backends.map((b) => ({ name: b.name, netns: hostNamed(lab, b.name).netns! })),
    client.ip,
    servicePort,
  );
  return flows.map((f) => {
    const answer = open.answers.find((a) => a.sport === f.sport);
    const owner = blockOwner(f.slot, slotCount, expect.backends.length);
    return {
      ...f,
      answered: answer?.answered ?? false,
      ...(answer?.answered ? {} : { failure: answer?.text ?? "no result" }),
      reached: where.get(f.sport),
      expected: owner === undefined ? undefined : expect.backends[owner].name,
    };
  });
}

function slotCountOf(entries: readonly EntryView[], vip: string): number | undefined {
  const e = entries.find((e) => e.table === TABLES.vip && e.match.dst_addr === vip);
  const n = Number(e?.params.slot_count);
  return n >= 1 ? n : undefined;
}

function describeEntries(entries: readonly EntryView[]): string {
  return entries.map((e) =>
    `  ${e.table} ${JSON.stringify(e.match)} -> ${e.action} ${JSON.stringify(e.params)}`
  ).join("\n") || "  (none)";
}

/** Runs `fn` with a fresh primary session to the lab's load-balancer switch. */
async function withLbSwitch<T>(lab: Lab, fn: (sw: P4RuntimeClient) => Promise<T>): Promise<T> {
  const sw = await connectLbSwitch(lab);
  try {
    return await fn(sw);
  } finally {
    sw.close();
  }
}
