/**
 * Wrong solution: the switch is never moved.
 *
 * Fails: only after the restore
 */
import { criuDump, criuRestore, releaseSourceLock } from "../../../../lib/criu/checkpoint.ts";
import { rewriteDumpAddresses } from "../../../../lib/criu/rewrite.ts";
import type { ProcessMigration } from "../../../../lib/exercises/contexts.ts";

export async function migrateServer(m: ProcessMigration): Promise<number> {
  await criuDump({
    netns: m.source.netns,
    pid: m.pid,
    imagesDir: m.imagesDir,
    tcpEstablished: true,
  });
  await rewriteDumpAddresses(m.imagesDir, { from: m.source.ip, to: m.target.ip });
  const restored = await criuRestore({
    netns: m.target.netns,
    imagesDir: m.imagesDir,
    leaveStopped: true,
  });
  Deno.kill(restored.pid, "SIGCONT");
  await releaseSourceLock({ netns: m.source.netns, imagesDir: m.imagesDir });
  return restored.pid;
}
