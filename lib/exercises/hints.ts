/**
 * Staged hints for `deno task lab check <n> --hint`: each call reveals the next stage, remembered
 * per student (in `.run/exercises/students/<student>.json`, with the student's last result):
 *
 * 1. the concept: what must happen and why;
 * 2. the tools: which tables, functions and files to read (never the code to write);
 * 3. what is still wrong in *your* solution: the first criterion the last check failed, with
 *    what the grader saw. This stage stays, and follows each new check.
 *
 * @module
 */
import { repoRoot } from "../lab/paths.ts";
import { BUSY_TITLE } from "./ex6_one_cluster.ts";
import type { CheckResult } from "./grading.ts";
import { studentSlug } from "./student.ts";

/** The two general stages of an exercise's hints. */
export interface ExerciseHints {
  concept: string;
  tools: string;
}

export const HINTS: Record<number, ExerciseHints> = {
  1: {
    concept: "Nobody owns the VIP. The client only ever talks to the VIP; the switch recognises " +
      "it, picks a backend, and rewrites the destination on the way in and the source on the " +
      "way back. That only works if both directions cross the switch, so the client and the " +
      "server sit on different ports of it, each in its own host. A lab file is a description " +
      "of that network: hosts with addresses, a switch, cables between them, the service the " +
      "switch offers, and the programs that run in each host.",
    tools: "lab/lab.schema.json lists every key a lab file takes (your editor completes them); " +
      "lib/lab/format.ts describes the sections and README.md (Background) what each becomes. " +
      "The workloads are lab/workloads/counter_server.c and counter_client.c: the comment at " +
      "the top of each lists its arguments, and the placeholders {vip} and {port} keep the " +
      "service's address in one place. `deno task lab check 1 --keep` leaves your lab up: " +
      "`lab status` and `lab exec <file> <host> -- ss -tn` show what each host is connected to.",
  },
  2: {
    concept: "A new connection meets four tables: the VIP table makes an address a service (its " +
      "port, and how many slots there are); the slot its hash picks names a backend id; the " +
      "backend table turns the id into an address; and the replies, coming back from that " +
      "address, must be rewritten to the VIP. The slot layout matters: connections that one " +
      "client opens together come from consecutive even source ports, and for those the " +
      "hash's lowest bit does not change.",
    tools: "p4/README.md (Packet walk, Control-plane API) names every table, key and action; " +
      "p4/lb.p4 has their definitions. The session you receive is a P4RuntimeClient " +
      "(lib/p4runtime/client.ts): look at insertEntry and readTable, and at the EntrySpec " +
      "type in lib/p4runtime/entries.ts for how matches and parameters are written. " +
      "`lab check 2 --verbose` prints the entries read back from the switch.",
  },
  3: {
    concept: "A live migration to another address is four moves: checkpoint the process with " +
      "its TCP connections (CRIU locks them on the source so its kernel stays quiet), rewrite " +
      "the address inside the checkpoint, restore on the target, and point the switch there. " +
      "The order is the whole point: the switch may only move once the restored sockets exist, " +
      "the restored server should only run once the switch points at it, and the lock may only " +
      "go once no packet is headed for the source any more.",
    tools: "lib/criu/checkpoint.ts (criuDump, criuRestore and its options, releaseSourceLock) " +
      "and lib/criu/rewrite.ts (rewriteDumpAddresses); the migration context is ProcessMigration " +
      "in lib/exercises/contexts.ts, its controller is lib/controller/api_client.ts. A stopped " +
      "process goes on with SIGCONT (Deno.kill). `lab check 3 --verbose` prints the timeline " +
      "the grader saw: when the server left h2, when it was restored, when you asked the switch.",
  },
  4: {
    concept: "The same migration as exercise 3, with Podman driving CRIU: the checkpoint is " +
      "one tar archive, the address lives in one member of it, and the restore goes into " +
      "another pod, whose network namespace has the new address. Podman has no option to " +
      "leave the restored container stopped, but CRIU reads a configuration file that runc " +
      "hands it, and the restored process then gets a new pid on this machine.",
    tools: "lib/podman/checkpoint.ts (the checkpoint, restore and remove commands), " +
      "lib/podman/tar.ts (editTarMember), lib/criu/images.ts and lib/criu/rewrite.ts (parse, " +
      "rewrite, encode an image), lib/podman/criu_config.ts (what the configuration file can " +
      "do, and where the restored pid is written). `lab check 4 --verbose` prints the timeline " +
      "the grader saw.",
  },
  5: {
    concept: "The switch remembers each open connection's backend *id* and looks the address up " +
      "afresh for every packet; only new connections use the slots. So adding a backend must " +
      "leave every existing id meaning the same address, keep the slot table's size (a " +
      "connection the switch forgot falls back to the slots), and move as few slots as it takes " +
      "to give the newcomer its share.",
    tools: "LbState, planLbEntries and diffEntries in lib/lb/entries.ts (how a state becomes " +
      "entries, and which updates a change of state writes); p4/README.md, Per-connection " +
      "consistency. Your function is judged on its own first (two states), then on the lab.",
  },
  6: {
    concept: "A pod cannot move: a new pod is made from a checkpoint of the old one, on " +
      "another slot with another address. Four things make that safe. The kubelet's " +
      "checkpoint leaves the old container running, so the old pod must stop being heard " +
      "before the checkpoint, or its later answers are missing from it. The new pod's address " +
      "must be known before the pod exists, so that the checkpoint can be rewritten for it. " +
      "The switch may only move once the new pod is Ready, as only then do its sockets exist. " +
      "And a restore can fail: until the switch moves, the old pod is the service, and " +
      "everything the migration made must go again, leaving the old pod heard.",
    tools: "lib/kubernetes/checkpoint.ts (checkpointContainer, buildCheckpointImage, " +
      "restoredPod), lib/kubernetes/cni/state.ts (reserveSlot, releaseReservation), " +
      "lib/criu/archive.ts (rewriteArchiveAddresses), lib/migrate/pod_driver.ts (silenceArgv, " +
      "SILENCE_TABLE, and how the library's own pod migration hands the new pod to the " +
      "Deployment), lib/kubernetes/api.ts (KubeApi, podReady, podFailure), inNetnsPath in " +
      "lib/shell.ts; the context is PodMigration in lib/exercises/contexts.ts. The check runs " +
      "your function twice, the first time with an address that makes the restore fail. " +
      "`lab check 6 --verbose` prints the order of your calls as the grader saw them.",
  },
};

/** What is remembered for one student. */
export interface StudentState {
  /** Hint stage reached, by exercise number. */
  hints: Record<string, number>;
  /** The last check of each exercise. */
  last: Record<string, CheckResult>;
}

/** Where a student's state lives in a checkout. */
export function studentStatePath(student: string, root: string = repoRoot()): string {
  return `${root}/.run/exercises/students/${studentSlug(student)}.json`;
}

export async function loadStudentState(student: string, root?: string): Promise<StudentState> {
  try {
    const s = JSON.parse(await Deno.readTextFile(studentStatePath(student, root)));
    return { hints: s.hints ?? {}, last: s.last ?? {} };
  } catch {
    return { hints: {}, last: {} };
  }
}

export async function saveStudentState(
  student: string,
  state: StudentState,
  root?: string,
): Promise<void> {
  const path = studentStatePath(student, root);
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(path, JSON.stringify(state, null, 2) + "\n");
}

/** The hint at `stage` (1-3) for exercise `n`, given the student's last result. */
export function hintText(n: number, stage: number, last?: CheckResult): string {
  const hints = HINTS[n];
  if (stage === 1) return hints.concept;
  if (stage === 2) return hints.tools;
  if (!last) {
    return `Run \`sudo deno task lab check ${n}\` first: this hint looks at what your last ` +
      "check found.";
  }
  if (last.passed) {
    return "Your last check passed every criterion: nothing is wrong. README.md's \"Going " +
      'further" has more to try.';
  }
  const first = last.criteria.find((c) => c.status === "fail");
  if (!first) return "Your last check could not judge everything: run it again.";
  const lines = [`Your last check failed first on: ${first.title}`];
  if (first.detail) lines.push(`What it saw: ${first.detail}`);
  if (first.hint) lines.push(`Think about: ${first.hint}`);
  const rest = last.criteria.filter((c) => c.status !== "pass").length - 1;
  if (rest > 0) lines.push(`(${rest} more criteria are not there yet; this one comes first.)`);
  return lines.join("\n");
}

/** Text wrapped to `width` columns, paragraph by paragraph (lines starting with a label stay). */
export function wrapText(text: string, width = 100): string {
  return text.split("\n").map((line) => {
    const out: string[] = [];
    for (const word of line.split(" ")) {
      const last = out.at(-1);
      if (last !== undefined && last.length + word.length + 1 <= width) {
        out[out.length - 1] = `${last} ${word}`;
      } else out.push(out.length ? `  ${word}` : word);
    }
    return out.join("\n");
  }).join("\n");
}

/** Reveals the next hint stage for exercise `n` and remembers it; returns the text to print. */
export async function nextHint(n: number, student: string, root?: string): Promise<string> {
  const state = await loadStudentState(student, root);
  const stage = Math.min(3, (state.hints[String(n)] ?? 0) + 1);
  state.hints[String(n)] = stage;
  await saveStudentState(student, state, root);
  const titles = ["the idea", "the tools", "your solution"];
  return `Exercise ${n}, hint ${stage} of 3 (${titles[stage - 1]}):\n\n` +
    wrapText(hintText(n, stage, state.last[String(n)]));
}

/** Remembers a check's result for the third hint stage. */
export async function rememberResult(result: CheckResult, root?: string): Promise<void> {
  if (result.solution || !result.student) return;
  // A check that found the machine's Kubernetes lab taken says nothing about the student's file.
  if (result.criteria.some((c) => c.title === BUSY_TITLE)) return;
  const state = await loadStudentState(result.student, root);
  state.last[String(result.exercise)] = result;
  await saveStudentState(result.student, state, root);
}
