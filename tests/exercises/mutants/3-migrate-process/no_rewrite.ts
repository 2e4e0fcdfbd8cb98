// deno-lint-ignore-file no-unused-vars -- left over from the solution this mistake was made in
/**
 * Wrong solution: the checkpoint keeps the old address.
 *
 * Fails: finishes and returns
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
  const restored = await criuRestore({
    netns: m.target.netns,
    imagesDir: m.imagesDir,
    leaveStopped: true,
  });
  await m.controller.migrateBackend(m.source.name, m.target.name);
  Deno.kill(restored.pid, "SIGCONT");
  await releaseSourceLock({ netns: m.source.netns, imagesDir: m.imagesDir });
  return restored.pid;
}
