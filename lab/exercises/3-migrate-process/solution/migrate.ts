/**
 * Exercise 3, reference solution: dump, rewrite, restore, switch, release the lock.
 */
import { criuDump, criuRestore, releaseSourceLock } from "../../../../lib/criu/checkpoint.ts";
import { rewriteDumpAddresses } from "../../../../lib/criu/rewrite.ts";
import type { ProcessMigration } from "../../../../lib/exercises/contexts.ts";

/** Moves the server to `m.target`; returns its pid there. */
export async function migrateServer(m: ProcessMigration): Promise<number> {
  await criuDump({
    netns: m.source.netns,
    pid: m.pid,
    imagesDir: m.imagesDir,
    tcpEstablished: true,
  });
  m.log(`dumped pid ${m.pid} from ${m.source.name}`);

  const { changed } = await rewriteDumpAddresses(m.imagesDir, {
    from: m.source.ip,
    to: m.target.ip,
  });
  m.log(`${changed.length} socket(s): ${m.source.ip} -> ${m.target.ip}`);

  const restored = await criuRestore({ netns: m.target.netns, imagesDir: m.imagesDir });
  m.log(`restored pid ${restored.pid} in ${m.target.name}`);

  // Only now: before the restore, the target would reset the client's packets (no socket yet).
  const change = await m.controller.migrateBackend(m.source.name, m.target.name);
  m.log(`switch: ${change.updates} update(s) in ${change.writeMs.toFixed(1)} ms`);

  const removed = await releaseSourceLock({ netns: m.source.netns, imagesDir: m.imagesDir });
  m.log(`lock: ${removed.join(", ") || "nothing left"}`);
  return restored.pid;
}
