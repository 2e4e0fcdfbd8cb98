/**
 * Wrong solution: the checkpoint is restored where it was taken, and the switch is moved to a
 * host where nothing runs.
 *
 * Fails: the server moved
 */
import { criuDump, criuRestore, releaseSourceLock } from "../../../../lib/criu/checkpoint.ts";
import type { ProcessMigration } from "../../../../lib/exercises/contexts.ts";

export async function migrateServer(m: ProcessMigration): Promise<number> {
  await criuDump({ netns: m.source.netns, pid: m.pid, imagesDir: m.imagesDir });
  const restored = await criuRestore({
    netns: m.source.netns,
    imagesDir: m.imagesDir,
    leaveStopped: true,
  });
  await m.controller.migrateBackend(m.source.name, m.target.name);
  Deno.kill(restored.pid, "SIGCONT");
  await releaseSourceLock({ netns: m.source.netns, imagesDir: m.imagesDir });
  return restored.pid;
}
