// The starter imports what you will need before you use it:
// deno-lint-ignore-file no-unused-vars
/**
 * Exercise 3: migrate the counter server process from h2 to h3 and keep its connections.
 *
 * The check (`deno task lab check 3`) brings up lab.yaml (the client on h1 keeps four connections
 * to the VIP, served by h2), then calls migrateServer() with everything it needs (see
 * ProcessMigration in lib/exercises/contexts.ts) and watches the client's answers.
 *
 * The four steps of a live migration to another address:
 *   1. checkpoint the process with its established TCP connections (done below);
 *   2. rewrite the server's old address to the new one in the checkpoint's socket images;
 *   3. restore the process in the target's network namespace;
 *   4. point the switch at the target, so the client's packets reach the restored sockets;
 * and then release the lock CRIU left in the source namespace.
 */
import { criuDump, criuRestore, releaseSourceLock } from "../../../lib/criu/checkpoint.ts";
import { rewriteDumpAddresses } from "../../../lib/criu/rewrite.ts";
import type { ProcessMigration } from "../../../lib/exercises/contexts.ts";

/** Moves the server to `m.target`; returns its pid there. */
export async function migrateServer(m: ProcessMigration): Promise<number> {
  // 1. Checkpoint. CRIU runs inside the source namespace, freezes the process, dumps it (with
  //    --tcp-established: its connections too) into m.imagesDir and kills it. Until the switch
  //    moves, a lock (nftables rules) in the source namespace drops the client's packets, so
  //    the source kernel cannot reset the connections.
  await criuDump({
    netns: m.source.netns,
    pid: m.pid,
    imagesDir: m.imagesDir,
    tcpEstablished: true,
  });
  m.log(`dumped pid ${m.pid} from ${m.source.name}`);

  // TODO 2. Rewrite the socket addresses: every socket bound to m.source.ip must use m.target.ip,
  //    or the restore fails (the target has no such address) and the client would not recognise
  //    the connections. rewriteDumpAddresses(imagesDir, { from, to }) edits files.img in place.

  // TODO 3. Restore in the target namespace: criuRestore({ netns, imagesDir }) returns { pid }
  //    once the process runs again, its connections included.

  // TODO 4. Point the switch at the target: the lab's controller rewrites the backend's
  //    address (m.controller.migrateBackend(from host name, to host name)).

  // TODO 5. Release CRIU's lock in the source namespace: releaseSourceLock({ netns, imagesDir }).

  return m.pid;
}
