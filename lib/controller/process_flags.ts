/**
 * The Deno flags of a controller process, in one place: the lab's controller service
 * (lib/controller/service_process.ts) runs with them, and so does the benchmark's measured controller
 * (lib/bench/controller_memory.ts), so the memory it reports is the service's.
 *
 * @module
 */

/**
 * Flags between `deno run -A` and the script.
 *
 * A controller's work is bursts of P4Runtime writes and reads. Under a burst V8 grows the young
 * generation's semi-spaces to several MB each and keeps the pages afterwards. With 1 MB
 * semi-spaces a controller holding 10,000 entries measured 95 MB resident instead of 125-128 MB,
 * and the lab's controller 85 MB instead of 95 MB after 300 migrations, with the same insert
 * throughput and migration latency.
 */
export const CONTROLLER_DENO_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=1"];
