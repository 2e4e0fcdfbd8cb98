/**
 * The measured controller process of `measureControllerMemory` (controller_memory.ts):
 * `deno run -A <controller flags> controller_memory_child.ts <address> <count> <batch size>`.
 * Writes its `HoldResult` as one JSON line on stdout; fails with a message on stderr.
 *
 * @module
 */
// The controller service is `main.ts controller serve`, and main.ts loads every command: load the
// same code (main.ts runs nothing when imported), so its memory is counted as the service's is.
import "../../main.ts";
import { holdEntries } from "./controller_memory.ts";

if (import.meta.main) {
  const [address, count, batchSize] = Deno.args;
  const result = await holdEntries(address, Number(count), Number(batchSize));
  await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(result) + "\n"));
}
