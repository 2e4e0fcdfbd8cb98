/**
 * Removing an nftables table that may or may not be there, the way every lock and silence of
 * ours is undone: idempotent, and any other failure is an error that says what was being undone.
 *
 * @module
 */
import type { Shell } from "../shell.ts";

/**
 * Runs `argv`, an `nft delete table …` (prefixed to run in some namespace). Resolves true when
 * it removed the table, false when there was none; throws `${what}: <nft's message>` otherwise.
 */
export async function deleteNftTable(
  shell: Shell,
  argv: readonly string[],
  what: string,
): Promise<boolean> {
  const r = await shell.run(argv, { check: false });
  if (r.code === 0) return true;
  if (/No such file or directory/.test(r.stderr)) return false;
  throw new Error(`${what}: ${r.stderr.trim()}`);
}
