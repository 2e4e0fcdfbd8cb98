/**
 * Where a lab's workloads run now (`<runDir>/workloads.json`): written when they start, updated
 * by migrations, read by status, migrations and graders.
 *
 * @module
 */
import type { WorkloadPlacement } from "./start.ts";

/** Path of the workload placement file. */
export function placementsPath(runDir: string): string {
  return `${runDir}/workloads.json`;
}

export async function readPlacements(runDir: string): Promise<WorkloadPlacement[]> {
  try {
    return JSON.parse(await Deno.readTextFile(placementsPath(runDir))) as WorkloadPlacement[];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

export async function writePlacements(runDir: string, list: WorkloadPlacement[]): Promise<void> {
  const tmp = `${placementsPath(runDir)}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(list, null, 2) + "\n");
  await Deno.rename(tmp, placementsPath(runDir));
}
