/**
 * Wrong solution: the switch moved before the restore, CRIU's lock released right after the dump, the old pid returned (issue #14).
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
  await releaseSourceLock({ netns: m.source.netns, imagesDir: m.imagesDir });
  await rewriteDumpAddresses(m.imagesDir, { from: m.source.ip, to: m.target.ip });
  await m.controller.migrateBackend(m.source.name, m.target.name);
  await criuRestore({ netns: m.target.netns, imagesDir: m.imagesDir });
  return m.pid;
}
