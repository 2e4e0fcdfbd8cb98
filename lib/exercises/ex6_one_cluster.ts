/**
 * Exercise 6 brings up a Kubernetes cluster, and a machine runs one at a time: the cluster
 * changes machine-wide settings (sysctls, /etc/criu/runc.conf, /var/lib/kubelet), and its
 * bring-up refuses beside another kubelet or CRI-O. So, unlike the other exercises, students
 * sharing a machine take turns: a check of exercise 6 holds a machine-wide lock for its
 * duration, and refuses, naming whose lab is in the way, while another check runs or any
 * Kubernetes lab (another student's kept one, an instructor's) is up.
 *
 * @module
 */
import { nodeProcess } from "../kubernetes/cluster/prepare.ts";
import { acquireLock, type Lock, LockedError } from "../pid_lock.ts";
import { fail, type Verdict } from "./grading.ts";
import type { LabIdentity } from "./lab_identity.ts";

/** Where the lock of the machine's one exercise-6 check lives (with a note of its holder). */
export const CLUSTER_CHECK_DIR = "/run/p4containerflow";

/** The one criterion of a check that found the machine's Kubernetes lab taken. */
export const BUSY_TITLE = "this machine's one Kubernetes lab is free for your check";

/** Who runs a Kubernetes lab: the lab (from the process's configuration path), if a lab's. */
export interface ClusterHolder {
  comm: string;
  pid: number;
  /** The lab's run directory and name, when the process belongs to a lab's cluster. */
  runDir?: string;
  lab?: string;
}

/**
 * The lab a kubelet or CRI-O belongs to, from its command line (pure): a lab's cluster reads its
 * configuration from `<runDir>/k8s/kubelet.yaml` or `<runDir>/k8s/crio/crio.conf`.
 */
export function labOfNodeCommand(argv: readonly string[]): { runDir: string; lab: string } | {
  runDir?: undefined;
  lab?: undefined;
} {
  const i = argv.indexOf("--config");
  const config = i >= 0 ? argv[i + 1] : undefined;
  const m = config ? /^(.*\/([^/]+))\/k8s\/(?:kubelet\.yaml|crio\/crio\.conf)$/.exec(config) : null;
  return m ? { runDir: m[1], lab: m[2] } : {};
}

/** The student whose exercise-6 lab this is (`exercise-6-alice` -> `alice`), if it is one. */
export function studentOfLab(lab: string | undefined): string | undefined {
  return lab ? /^exercise-6-(.+)$/.exec(lab)?.[1] : undefined;
}

/** The kubelet or CRI-O running on this machine, with its lab, or undefined. */
export function clusterHolder(): ClusterHolder | undefined {
  const found = nodeProcess();
  if (!found) return undefined;
  let argv: string[] = [];
  try {
    argv = Deno.readTextFileSync(`/proc/${found.pid}/cmdline`).split("\0");
  } catch {
    // Exited meanwhile: as good as gone, but say what was seen.
  }
  return { ...found, ...labOfNodeCommand(argv) };
}

/** What a student is told when another Kubernetes lab is up (pure). */
export function busyVerdict(holder: ClusterHolder): Verdict {
  const who = studentOfLab(holder.lab);
  const process = `${holder.comm} pid ${holder.pid}`;
  if (who) {
    return fail(
      `${who}'s lab ${holder.lab} is up on this machine (${process}), and one Kubernetes lab ` +
        "runs on a machine at a time",
      `wait for ${who}'s lab to go down (a check takes about half a minute; a lab kept with ` +
        `--keep stays until \`lab down\`: ${holder.runDir ?? ""}), or ask your instructor`,
    );
  }
  if (holder.lab) {
    return fail(
      `the Kubernetes lab ${holder.lab} is up on this machine (${process}), and one ` +
        "Kubernetes lab runs on a machine at a time",
      `wait for it to go down (\`sudo deno task lab down ${holder.lab}\` in the checkout that ` +
        "runs it), or ask your instructor",
    );
  }
  return fail(
    `a ${holder.comm} that no lab started runs on this machine (pid ${holder.pid}): the ` +
      "exercise's own cluster cannot start beside it",
    "ask your instructor: exercise 6 needs a machine without a Kubernetes node of its own",
  );
}

/** The machine's turn for one exercise-6 check; `release()` (or `await using`) gives it back. */
export type ClusterTurn = Lock;

/**
 * Takes the machine's exercise-6 turn for `identity`'s check, or returns why it cannot: another
 * check holds it, or a Kubernetes lab other than the student's own (kept) one is up.
 */
export async function takeClusterTurn(
  identity: LabIdentity,
  student: string,
  options: {
    /** Where the lock lives (default {@link CLUSTER_CHECK_DIR}). */
    dir?: string;
    /** Who runs a Kubernetes node here (default: {@link clusterHolder}; tests pass their own). */
    holder?: () => ClusterHolder | undefined;
  } = {},
): Promise<ClusterTurn | Verdict> {
  const dir = options.dir ?? CLUSTER_CHECK_DIR;
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  const path = `${dir}/exercise-6.lock`;
  const note = `${path}.json`;
  let turn: Lock;
  try {
    turn = await acquireLock(path, (owner) => `pid ${owner}`);
  } catch (err) {
    if (!(err instanceof LockedError)) throw err;
    const holder = await Deno.readTextFile(note).then(JSON.parse).catch(() => ({}));
    const who = typeof holder.student === "string" ? holder.student : "another student";
    return fail(
      `${who}'s check of exercise 6 is running on this machine (${err.message}), and one ` +
        "Kubernetes lab runs on a machine at a time",
      `wait for ${who}'s check to end (about half a minute) and check again, or ask your ` +
        "instructor",
    );
  }
  const holder = (options.holder ?? clusterHolder)();
  // The student's own lab, kept by an earlier check, is brought down and up again by the check.
  if (holder && holder.lab !== identity.name) {
    await turn.release();
    return busyVerdict(holder);
  }
  await Deno.writeTextFile(note, JSON.stringify({ student, lab: identity.name }) + "\n");
  const release = async () => {
    await Deno.remove(note).catch(() => {});
    await turn.release();
  };
  return { release, [Symbol.asyncDispose]: release };
}

/** Whether {@link takeClusterTurn} gave a turn (else a verdict saying why not). */
export function isTurn(x: ClusterTurn | Verdict): x is ClusterTurn {
  return "release" in x;
}
