/**
 * The course exercises in `lab/exercises/<n>-<slug>/`: what each one asks, which file the student
 * edits, which lab it runs on and what the machine needs for its check. Pure data and paths.
 *
 * @module
 */
import type { Capability } from "../capabilities.ts";
import { UserError } from "../errors.ts";
import { repoRoot } from "../lab/paths.ts";

export interface Exercise {
  /** 1-based, as in `deno task lab check <n>`. */
  number: number;
  /** Directory name under lab/exercises/. */
  slug: string;
  title: string;
  /** The file the student completes, relative to the exercise directory. */
  studentFile: string;
  /** The exercise's lab file, relative to its directory (exercise 1: the student's file). */
  labFile: string;
  /** What the check needs on this machine. */
  needs: readonly Capability[];
  /**
   * A lab left up by an earlier check (`--keep`) can serve the next one as it is: the check
   * starts by putting the switch back into a known state.
   */
  reusesLab?: boolean;
}

export const EXERCISES: readonly Exercise[] = [
  {
    number: 1,
    slug: "1-topology",
    title: "Build a topology and reach the VIP through the switch",
    studentFile: "lab.yaml",
    labFile: "lab.yaml",
    needs: ["root", "netns", "bmv2"],
  },
  {
    number: 2,
    slug: "2-program-lb",
    title: "Program the load balancer over P4Runtime",
    studentFile: "program_lb.ts",
    labFile: "lab.yaml",
    needs: ["root", "netns", "bmv2"],
    reusesLab: true,
  },
  {
    number: 3,
    slug: "3-migrate-process",
    title: "Migrate a process and keep its connections",
    studentFile: "migrate.ts",
    labFile: "lab.yaml",
    needs: ["root", "netns", "bmv2", "criu"],
  },
  {
    number: 4,
    slug: "4-migrate-container",
    title: "Migrate a container and keep its connections",
    studentFile: "migrate.ts",
    labFile: "lab.yaml",
    needs: ["root", "netns", "bmv2", "criu", "podman"],
  },
  {
    number: 5,
    slug: "5-add-backends",
    title: "Keep connections while backends are added",
    studentFile: "pool.ts",
    labFile: "lab.yaml",
    needs: ["root", "netns", "bmv2"],
  },
  {
    number: 6,
    slug: "6-migrate-pod",
    title: "Migrate a Kubernetes pod to a new pod and keep its connections",
    studentFile: "migrate_pod.ts",
    labFile: "lab.yaml",
    // Its lab is a Kubernetes cluster: one runs on a machine at a time (ex6_one_cluster.ts).
    needs: ["root", "netns", "bmv2", "criu", "podman", "kubernetes"],
    // A kept cluster is reused, its pods made anew (ex6_reset.ts): no second bring-up.
    reusesLab: true,
  },
];

/** The directory holding every exercise: `lab/exercises/`. */
export function exercisesDir(root: string = repoRoot()): string {
  return `${root}/lab/exercises`;
}

/** Finds an exercise by number (`"3"` or `3`). */
export function findExercise(ref: string | number): Exercise {
  const n = typeof ref === "number" ? ref : Number(ref);
  const found = EXERCISES.find((e) => e.number === n);
  if (!found) {
    throw new UserError(`There is no exercise "${ref}"`, {
      hint: `exercises are: ${EXERCISES.map((e) => `${e.number} (${e.slug})`).join(", ")}`,
    });
  }
  return found;
}

/**
 * Absolute paths of an exercise's files: the student's (or the reference solution's when
 * `useSolution`, or `studentFile` itself when given), and the lab it runs on.
 */
export function exerciseFiles(
  ex: Exercise,
  options: { useSolution?: boolean; root?: string; studentFile?: string } = {},
): { dir: string; student: string; lab: string } {
  const dir = `${exercisesDir(options.root)}/${ex.slug}`;
  const student = options.studentFile ??
    `${dir}/${options.useSolution ? "solution/" : ""}${ex.studentFile}`;
  // Exercise 1's lab file is what the student writes; the others run on a given lab.
  const lab = ex.labFile === ex.studentFile ? student : `${dir}/${ex.labFile}`;
  return { dir, student, lab };
}

/** A path relative to the repository, for messages. */
export function displayPath(path: string, root: string = repoRoot()): string {
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}
