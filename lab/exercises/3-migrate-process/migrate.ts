// deno-lint-ignore-file require-await no-unused-vars
/**
 * Exercise 3: move the counter server process from h2 to h3 while the client keeps its
 * connections.
 *
 * The check (`sudo deno task lab check 3`) brings up lab.yaml (the client on h1 keeps four
 * connections to the VIP, served by h2), then calls migrateServer() with everything it needs
 * (ProcessMigration in lib/exercises/contexts.ts) and watches: the server's processes on both
 * hosts, CRIU's lock, the moment you ask the switch to move, and the client's answers.
 *
 * What has to happen, in words (README.md explains each step and the tools):
 *   - checkpoint the server with its established TCP connections, on the source;
 *   - make the checkpoint fit the target's address;
 *   - bring it back on the target, without letting it run yet;
 *   - point the switch at the target;
 *   - let the server run;
 *   - take away what the checkpoint left on the source;
 *   - return the pid of the process that holds the connections on the target.
 */
import type { ProcessMigration } from "../../../lib/exercises/contexts.ts";

/** Moves the server to `m.target`; returns the pid of the server there. */
export async function migrateServer(m: ProcessMigration): Promise<number> {
  throw new Error("migrateServer() is not written yet: see README.md");
}
