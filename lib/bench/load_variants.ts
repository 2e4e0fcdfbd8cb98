/**
 * The ways the load bench (lib/bench/load.ts) holds connections while a server is frozen, and
 * how reports name them (pure: also read by lib/bench/results_table.ts).
 *
 * @module
 */
import type { ProcessNetworkLock } from "../migrate/process_driver.ts";

/** One way of keeping the connections while the server is frozen. */
export interface LoadVariant {
  lock: ProcessNetworkLock;
  /** Refused segments handed to the restored server (ProcessDriverOptions.replaySegments). */
  replay: boolean;
}

/** Ours first, then without the hand-over, then a silent lock. */
export const LOAD_VARIANTS: readonly LoadVariant[] = [
  { lock: "ports", replay: true },
  { lock: "ports", replay: false },
  { lock: "ports-silent", replay: false },
];

/** How a report names a variant (pure). */
export function loadVariantName(m: { lock: ProcessNetworkLock; replay?: boolean }): string {
  if (m.lock === "ports-silent") return "lock dropping";
  if (m.lock !== "ports") return `CRIU's ${m.lock} lock`;
  return m.replay ? "lock refusing (ICMP), refused segments handed over" : "lock refusing (ICMP)";
}

/**
 * Whether a migration used our default way, the one the goal is for (pure). Reports from before
 * the hand-over have no `replay`: their refusing lock was then the default.
 */
export function isOursLoad(m: { lock: ProcessNetworkLock; replay?: boolean }): boolean {
  return m.lock === "ports" && m.replay !== false;
}
