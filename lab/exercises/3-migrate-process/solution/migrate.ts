/**
 * Exercise 3, reference solution: dump, rewrite, restore stopped, switch, resume, release the
 * lock.
 */
import { criuDump, criuRestore, releaseSourceLock } from "../../../../lib/criu/checkpoint.ts";
import { rewriteDumpAddresses } from "../../../../lib/criu/rewrite.ts";
import type { ProcessMigration } from "../../../../lib/exercises/contexts.ts";

/** Moves the server to `m.target`; returns the pid of the server there. */
export async function migrateServer(m: ProcessMigration): Promise<number> {
  // From here on CRIU's lock keeps h2's kernel from resetting the client's connections.
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

  // Stopped: a server running before the switch moves would answer from h3 while the client's
  // next request still goes to h2 and waits for a retransmission.
  const restored = await criuRestore({
    netns: m.target.netns,
    imagesDir: m.imagesDir,
    leaveStopped: true,
  });
  m.log(`restored pid ${restored.pid} in ${m.target.name}, stopped`);

  // Only now: before the restore, h3 would reset the client's packets (no socket yet).
  const change = await m.controller.migrateBackend(m.source.name, m.target.name);
  m.log(`switch: ${change.updates} update(s) in ${change.writeMs.toFixed(1)} ms`);

  Deno.kill(restored.pid, "SIGCONT");

  // Nothing is headed for h2 any more: the lock has done its job.
  const removed = await releaseSourceLock({ netns: m.source.netns, imagesDir: m.imagesDir });
  m.log(`lock: ${removed.join(", ") || "nothing left"}`);
  return restored.pid;
}
