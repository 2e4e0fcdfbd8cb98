// deno-lint-ignore-file no-unused-vars -- left over from the solution this mistake was made in
/**
 * Wrong solution: CRIU's lock is never released.
 *
 * Fails: lock guarded
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
  await m.controller.migrateBackend(m.source.name, m.target.name);
  Deno.kill(restored.pid, "SIGCONT");
  return restored.pid;
}
